"""From examples to token sequences the model trains on.

Each example becomes `prompt ids + target ids`, where the prompt is exactly what the server would send
(`assistant.prompt.render_prompt`, same context trimming) and the target is the middle plus the profile's
end token. Labels are -100 on the prompt (prefix, suffix, sentinels): loss only on what the user typed. A
left-to-right prompt gives its last token to the target, as the server heals it (`assistant.healing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.healing import Healer, healer_for, split_prompt
from assistant.profiles import Profile
from assistant.prompt import FimInput, render_prompt, render_target, trim_context
from assistant.snippets import select_snippets
from trainer.mining.examples import Example

IGNORE = -100


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt text to ids, as the server does it (with the tokenizer's BOS, if it adds one)."""
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def encode_target(tokenizer: Any, target: str) -> list[int]:
    return list(tokenizer(target, add_special_tokens=False)["input_ids"])


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    weight: float


def _target(tokenizer: Any, text: str, max_len: int) -> list[int]:
    target = encode_target(tokenizer, text)
    # A middle longer than half the window: learn its beginning, without the end token.
    return target[: max_len // 2]


def encode_example(ex: Example, tokenizer: Any, profile: Profile, max_len: int,
                   suffix_share: float, snippet_share: float = 0.25, healer: Healer | None = None) -> Encoded | None:
    """The example as ids and masked labels within `max_len` tokens, or None if it cannot fit.

    Snippets of the commit's other files are chosen and budgeted by `select_snippets`, as the server does it,
    so a training prompt holds context of the same kind and size share as a served one. With a `healer` (a
    left-to-right profile) the prompt's last token is moved into the target, as the server heals it
    (`assistant.healing`).
    """
    special = set(tokenizer.all_special_ids)
    target = _target(tokenizer, render_target(profile, ex.middle), max_len)

    def count(text: str) -> int:
        return len(tokenizer.tokenize(text)) if text else 0

    budget = max_len - len(target) - 16  # room for sentinels, path and BOS
    documents = tuple((path, text) for path, text in ex.snippets)
    snippets, used = select_snippets(ex.prefix, documents, count, int(budget * snippet_share))
    budget -= used
    for _ in range(4):
        if budget <= 0:
            return None
        prefix, suffix = trim_context(ex.prefix, ex.suffix, count, budget, suffix_share)
        fim = FimInput(prefix=prefix, suffix=suffix, path=ex.path, language=ex.language, snippets=snippets)
        prompt = encode_prompt(tokenizer, render_prompt(profile, fim))
        learned = target
        if healer is not None:  # the served prompt ends one token early, and the model spells that token again
            prompt, healed = split_prompt(prompt, healer.pieces.__getitem__, special)
            learned = _target(tokenizer, healed + render_target(profile, ex.middle), max_len) if healed else target
        over = len(prompt) + len(learned) - max_len
        if over <= 0:
            return Encoded(prompt + learned, [IGNORE] * len(prompt) + learned, ex.weight)
        budget -= over + 8
    return None


def encode_all(examples: list[Example], tokenizer: Any, profile: Profile, max_len: int,
               suffix_share: float, snippet_share: float = 0.25) -> list[Encoded]:
    out = []
    healer = healer_for(tokenizer) if profile.left_to_right else None
    for ex in examples:
        enc = encode_example(ex, tokenizer, profile, max_len, suffix_share, snippet_share, healer)
        if enc is not None and any(label != IGNORE for label in enc.labels):
            out.append(enc)
    return out
