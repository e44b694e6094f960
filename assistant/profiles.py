"""Model profiles: each code model family's fill-in-the-middle template, end token and stop strings.

A profile is chosen from the base model's tokenizer and can be overridden with `train.profile` /
`server.profile`. A family's profile is chosen only when each of its tokens (sentinels, end token, file
separator) is one token of the vocabulary: a marker the model never saw, split into six ordinary tokens, would
be noise in every prompt. A base without any (SmolLM2, Llama, GPT-2) is trained with `generic`, whose tokens
are added to the tokenizer as new special tokens (their embeddings trained with the adapter), and used untuned
with `left-to-right`: the prefix alone, as such a model can honestly complete code. The template itself is
applied in `assistant.prompt`, the one place that formats prompts for both training and serving.
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
    adds_tokens: bool = False
    """Its sentinels and end token are not a base's own: training adds them to the tokenizer (`generic`)."""

    @property
    def left_to_right(self) -> bool:
        """The prompt is the prefix alone (no suffix, no sentinels): how a base without FIM tokens is used."""
        return "{suffix}" not in self.template

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every special token the template and the end of a middle need."""
        return tuple(t for t in (*self.sentinels, self.end_token, self.file_sep) if t)

    @property
    def sentinels(self) -> tuple[str, ...]:
        """The FIM tokens in the order the template writes them."""
        parts = self.template.replace("{prefix}", "\0").replace("{suffix}", "\0").split("\0")
        return tuple(p.strip() for p in parts if p.strip())

    @property
    def fim_tokens(self) -> dict[str, str]:
        """The FIM token of each role: 'prefix' and 'suffix' (the ones written before those parts), 'middle'."""
        if self.left_to_right:
            return {}
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
            # For a base without FIM tokens: these four are added to its tokenizer when it is trained. The suffix
            # comes first (as in tiny-spm) so that typing only extends the prompt and the KV cache covers it.
            name="generic",
            template="<|repo_fim_suffix|>{suffix}<|repo_fim_prefix|>{prefix}<|repo_fim_middle|>",
            end_token="<|repo_fim_end|>",
            stop=("<|repo_fim_end|>", "<|repo_fim_prefix|>", "<|repo_fim_suffix|>", "<|repo_fim_middle|>"),
            adds_tokens=True,
        ),
        Profile(
            # A base without FIM tokens, untuned: it continues the prefix, and stops at its own end token.
            name="left-to-right",
            template="{prefix}",
            end_token="",
            stop=(),
        ),
        Profile(
            name="deepseek-coder",
            template="<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
            end_token="<｜end▁of▁sentence｜>",
            stop=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        ),
    )
}

DETECTED = ("qwen2.5-coder", "deepseek-coder", "codellama", "starcoder2", "starcoder")
"""The families a tokenizer is checked for, in order (StarCoder2, which also needs `<file_sep>`, before StarCoder)."""

GENERIC = PROFILES["generic"]
LEFT_TO_RIGHT = PROFILES["left-to-right"]


def missing_tokens(profile: Profile, vocab: Container[str]) -> list[str]:
    """The profile's tokens that are not one token of `vocab` (SentencePiece may spell one with a leading ▁)."""
    return [t for t in profile.tokens if t not in vocab and "▁" + t not in vocab]


def find_profile(vocab: Container[str]) -> Profile | None:
    """The first family whose every token the tokenizer has as one token, or None."""
    for name in DETECTED:
        if not missing_tokens(PROFILES[name], vocab):
            return PROFILES[name]
    return None


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def detect_profile(vocab: Container[str], model_name: str = "") -> Profile:
    """The profile whose FIM tokens the tokenizer has. `vocab` holds its tokens (including special ones)."""
    found = find_profile(vocab)
    if found is not None:
        return found
    raise UserError(
        f"the base model {model_name or ''} has no fill-in-the-middle tokens this tool knows; use a FIM code model "
        f"or set the profile explicitly (train.profile / server.profile: {', '.join(PROFILES)})"
    )


def resolve_profile(setting: str, vocab: Container[str], model_name: str = "",
                    fallback: Profile | None = None) -> Profile:
    """`setting` is a profile name or 'auto': detected from the tokenizer, else `fallback` (`GENERIC` to train
    a base without FIM tokens, `LEFT_TO_RIGHT` to serve one untuned), else an error."""
    if setting != "auto":
        return get_profile(setting)
    found = find_profile(vocab)
    if found is not None:
        return found
    return fallback if fallback is not None else detect_profile(vocab, model_name)
