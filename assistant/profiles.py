"""Model profiles: each code model family's fill-in-the-middle template, end token and stop strings.

A profile is chosen from the base model's tokenizer (its FIM special tokens) and can be overridden with
`train.profile` / `server.profile`. The template itself is applied in `assistant.prompt`, the one place
that formats prompts for both training and serving.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from assistant.errors import UserError


@dataclass(frozen=True)
class Profile:
    name: str
    template: str
    """FIM prompt with `{prefix}` and `{suffix}` placeholders, ending with the middle sentinel."""
    end_token: str
    """Token that ends a middle: appended to training targets, stops generation."""
    stop: tuple[str, ...]
    """Strings that end generation when the model writes them (special tokens of other roles)."""
    file_sep: str | None = None
    """Token that introduces another file (path line, then its text), for repository context."""

    @property
    def sentinels(self) -> tuple[str, ...]:
        """The FIM tokens in the order the template writes them."""
        parts = self.template.replace("{prefix}", "\0").replace("{suffix}", "\0").split("\0")
        return tuple(p.strip() for p in parts if p.strip())

    @property
    def fim_tokens(self) -> dict[str, str]:
        """The FIM token of each role: 'prefix' and 'suffix' (the ones written before those parts), 'middle'."""
        first, second = sorted(("prefix", "suffix"), key=self.template.index)
        head, rest = self.template.split("{" + first + "}")
        between, tail = rest.split("{" + second + "}")
        return {first: head.strip(), second: between.strip(), "middle": tail.strip()}


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="tiny",
            template="<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
            end_token="<|endoftext|>",
            stop=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"),
            file_sep="<file_sep>",
        ),
        Profile(
            # The tiny base's: the suffix first, so the code the user types extends the prompt at its end and the
            # KV cache of the last prompt covers everything up to the cursor (with the prefix first, every
            # keystroke changes the prompt before the suffix, which is then run through the model again).
            name="tiny-spm",
            template="<fim_suffix>{suffix}<fim_prefix>{prefix}<fim_middle>",
            end_token="<|endoftext|>",
            stop=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"),
            file_sep="<file_sep>",
        ),
        Profile(
            name="qwen2.5-coder",
            template="<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
            end_token="<|endoftext|>",
            stop=("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
                  "<|file_sep|>", "<|repo_name|>", "<|im_start|>", "<|im_end|>"),
            file_sep="<|file_sep|>",
        ),
        Profile(
            name="starcoder2",
            template="<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
            end_token="<|endoftext|>",
            stop=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<file_sep>",
                  "<repo_name>"),
            file_sep="<file_sep>",
        ),
        Profile(
            name="starcoder",
            template="<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
            end_token="<|endoftext|>",
            stop=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<filename>",
                  "<reponame>", "<gh_stars>"),
            file_sep=None,
        ),
        Profile(
            name="codellama",
            template="<PRE> {prefix} <SUF>{suffix} <MID>",
            end_token="<EOT>",
            stop=("<EOT>", "</s>", "<PRE>", "<SUF>", "<MID>"),
        ),
        Profile(
            name="deepseek-coder",
            template="<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
            end_token="<｜end▁of▁sentence｜>",
            stop=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        ),
    )
}

# Which special token identifies which family; checked in order (StarCoder2 before StarCoder).
_MARKERS: tuple[tuple[str, str], ...] = (
    ("<|fim_prefix|>", "qwen2.5-coder"),
    ("<｜fim▁begin｜>", "deepseek-coder"),
    ("▁<PRE>", "codellama"),
    ("<PRE>", "codellama"),
    ("<file_sep>", "starcoder2"),
    ("<fim_prefix>", "starcoder"),
)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def detect_profile(vocab: Container[str], model_name: str = "") -> Profile:
    """The profile whose FIM tokens the tokenizer has. `vocab` holds its tokens (including special ones)."""
    for marker, name in _MARKERS:
        if marker in vocab:
            return PROFILES[name]
    raise UserError(
        f"the base model {model_name or ''} has no fill-in-the-middle tokens this tool knows; use a FIM code model "
        f"or set the profile explicitly (train.profile / server.profile: {', '.join(PROFILES)})"
    )


def resolve_profile(setting: str, vocab: Container[str], model_name: str = "") -> Profile:
    """`setting` is a profile name or 'auto' (detect from the tokenizer)."""
    return detect_profile(vocab, model_name) if setting == "auto" else get_profile(setting)
