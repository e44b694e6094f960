"""Each profile's exact prompt bytes are pinned: a change here silently wastes every trained adapter."""

import pytest

from assistant.errors import UserError
from assistant.profiles import (
    GENERIC,
    LEFT_TO_RIGHT,
    PROFILES,
    detect_profile,
    find_profile,
    missing_tokens,
    resolve_profile,
)
from assistant.prompt import FimInput, Snippet, render_prompt, render_target

FIM = FimInput(prefix="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n")

PINNED = {
    "tiny": "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>",
    "tiny-spm": "<fim_suffix>\n\nprint(add(1, 2))\n<fim_prefix>def add(a, b):\n    <fim_middle>",
    "qwen2.5-coder": "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
    "starcoder2": "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>",
    "starcoder": "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>",
    "codellama": "<PRE> def add(a, b):\n     <SUF>\n\nprint(add(1, 2))\n <MID>",
    "deepseek-coder": "<｜fim▁begin｜>def add(a, b):\n    <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>",
    "generic": "<|repo_fim_suffix|>\n\nprint(add(1, 2))\n<|repo_fim_prefix|>def add(a, b):\n    <|repo_fim_middle|>",
    "left-to-right": "def add(a, b):\n    ",
}
FIM_PROFILES = sorted(name for name in PINNED if not PROFILES[name].left_to_right)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_template_output_is_pinned(name: str) -> None:
    assert render_prompt(PROFILES[name], FIM) == PINNED[name]


def test_every_profile_is_pinned() -> None:
    assert set(PINNED) == set(PROFILES)


@pytest.mark.parametrize("name", FIM_PROFILES)
def test_each_fim_token_is_found_by_its_role_whatever_the_order(name: str) -> None:
    """The token written before the prefix, before the suffix, and last (what GGUF metadata calls them)."""
    roles = PROFILES[name].fim_tokens
    prompt = render_prompt(PROFILES[name], FIM)
    assert prompt.index(roles["prefix"]) < prompt.index("def add") < prompt.index(roles["middle"])
    assert prompt.index(roles["suffix"]) < prompt.index("print(add") < prompt.index(roles["middle"])
    assert prompt.rstrip().endswith(roles["middle"])
    assert set(roles.values()) == set(PROFILES[name].sentinels)


def test_typing_only_extends_the_tiny_prompt_at_its_end() -> None:
    """Suffix first: the prompt after a keystroke starts with the one before it, up to the middle token."""
    profile = PROFILES["tiny-spm"]
    before = render_prompt(profile, FIM)
    after = render_prompt(profile, FimInput(prefix=FIM.prefix + "ret", suffix=FIM.suffix))
    assert after.startswith(before.removesuffix(profile.fim_tokens["middle"]))


def test_targets_end_with_the_profiles_end_token() -> None:
    assert render_target(PROFILES["qwen2.5-coder"], "return a + b") == "return a + b<|endoftext|>"
    assert render_target(PROFILES["codellama"], "x") == "x<EOT>"
    assert render_target(PROFILES["deepseek-coder"], "x") == "x<｜end▁of▁sentence｜>"


def test_snippets_use_the_file_separator_where_the_profile_has_one() -> None:
    fim = FimInput(prefix="a = ", suffix="", path="pkg/b.py", language="python",
                   snippets=(Snippet("pkg/a.py", "A = 1"),))
    assert render_prompt(PROFILES["qwen2.5-coder"], fim) == (
        "<|file_sep|>pkg/a.py\nA = 1\n<|file_sep|>pkg/b.py\n<|fim_prefix|>a = <|fim_suffix|><|fim_middle|>")


def test_snippets_become_comments_without_a_file_separator() -> None:
    fim = FimInput(prefix="a = ", suffix="", path="b.js", language="javascript",
                   snippets=(Snippet("a.js", "const A = 1;\nconst B = 2;"),))
    assert render_prompt(PROFILES["deepseek-coder"], fim) == (
        "<｜fim▁begin｜>// a.js\n// const A = 1;\n// const B = 2;\na = <｜fim▁hole｜><｜fim▁end｜>")


STARCODER = {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<|endoftext|>"}


@pytest.mark.parametrize(("vocab", "expected"), [
    ({"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>", "<|file_sep|>"}, "qwen2.5-coder"),
    (STARCODER | {"<file_sep>"}, "starcoder2"),
    (STARCODER | {"<filename>"}, "starcoder"),
    ({"▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"}, "codellama"),
    ({"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<｜end▁of▁sentence｜>"}, "deepseek-coder"),
])
def test_profile_detected_from_the_tokenizers_special_tokens(vocab: set[str], expected: str) -> None:
    assert detect_profile(vocab).name == expected


def test_a_family_is_chosen_only_when_each_of_its_tokens_is_one_token() -> None:
    """SmolLM2's tokenizer has StarCoder's <file_sep>, <filename> and <reponame> but no FIM token: no family."""
    smollm2 = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<file_sep>", "<filename>", "<reponame>"}
    assert find_profile(smollm2) is None
    assert missing_tokens(PROFILES["starcoder2"], smollm2) == ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]
    assert resolve_profile("auto", smollm2, "smollm2", fallback=GENERIC).name == "generic"
    assert resolve_profile("auto", smollm2, "smollm2", fallback=LEFT_TO_RIGHT).name == "left-to-right"
    assert resolve_profile("auto", STARCODER | {"<file_sep>"}, fallback=GENERIC).name == "starcoder2"


def test_the_generic_profile_adds_its_tokens_and_left_to_right_has_none() -> None:
    assert GENERIC.adds_tokens and set(GENERIC.tokens) == {"<|repo_fim_prefix|>", "<|repo_fim_suffix|>",
                                                           "<|repo_fim_middle|>", "<|repo_fim_end|>"}
    assert LEFT_TO_RIGHT.left_to_right and LEFT_TO_RIGHT.tokens == () and LEFT_TO_RIGHT.fim_tokens == {}
    fim = FimInput(prefix="a = ", suffix="\nb = 2\n", path="x.py", language="python",
                   snippets=(Snippet("y.py", "A = 1"),))
    assert render_prompt(LEFT_TO_RIGHT, fim) == "# y.py\n# A = 1\na = "  # the suffix is never shown


def test_unknown_tokenizer_fails_with_the_fix() -> None:
    with pytest.raises(UserError, match="set the profile explicitly"):
        detect_profile({"hello"}, "gpt2")


def test_explicit_profile_overrides_detection() -> None:
    assert resolve_profile("codellama", {"<|fim_prefix|>"}).name == "codellama"
    with pytest.raises(UserError, match="unknown profile"):
        resolve_profile("gpt", set())
