"""Each profile's exact prompt bytes are pinned: a change here silently wastes every trained adapter."""

import pytest

from assistant.errors import UserError
from assistant.profiles import PROFILES, detect_profile, resolve_profile
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
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_template_output_is_pinned(name: str) -> None:
    assert render_prompt(PROFILES[name], FIM) == PINNED[name]


def test_every_profile_is_pinned() -> None:
    assert set(PINNED) == set(PROFILES)


@pytest.mark.parametrize("name", sorted(PINNED))
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


@pytest.mark.parametrize(("vocab", "expected"), [
    ({"<|fim_prefix|>", "<|endoftext|>"}, "qwen2.5-coder"),
    ({"<fim_prefix>", "<file_sep>"}, "starcoder2"),
    ({"<fim_prefix>", "<filename>"}, "starcoder"),
    ({"▁<PRE>", "▁<SUF>"}, "codellama"),
    ({"<｜fim▁begin｜>"}, "deepseek-coder"),
])
def test_profile_detected_from_the_tokenizers_special_tokens(vocab: set[str], expected: str) -> None:
    assert detect_profile(vocab).name == expected


def test_unknown_tokenizer_fails_with_the_fix() -> None:
    with pytest.raises(UserError, match="set the profile explicitly"):
        detect_profile({"hello"}, "gpt2")


def test_explicit_profile_overrides_detection() -> None:
    assert resolve_profile("codellama", {"<|fim_prefix|>"}).name == "codellama"
    with pytest.raises(UserError, match="unknown profile"):
        resolve_profile("gpt", set())
