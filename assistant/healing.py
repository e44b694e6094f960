"""Token healing: a left-to-right prompt ends inside the text, so its last token is taken back and regenerated.

A byte-level BPE tokenizer merges a newline with the indentation after it ("\\n   " is one token in SmolLM2's
vocabulary, and so is "\\n\\n"). A prompt cut at the start of an indented line therefore ends with a lone "\\n"
token, which the model has only ever seen before a line at column 0; asked to go on, it writes another newline
or nothing (`test_healing.py` shows it with the untuned SmolLM2-135M). Healing drops the prompt's last token
and makes the model's first tokens spell its text again, choosing among every token that fits ("\\n", "\\n   ",
"\\n       ", ...); the text it spelled again is then not part of the completion.

Only prompts that end with the prefix need it (the `left-to-right` profile): a FIM prompt ends with its middle
sentinel. Training does the same (`split_prompt`, then the taken-back text is tokenized with the middle), so a
model trained here sees the boundary exactly as it is served.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Any


def split_prompt(ids: Sequence[int], piece: Callable[[int], str], special: Container[int]) -> tuple[list[int], str]:
    """The prompt's ids without the last one, and that token's text; `(ids, "")` when it is not to be healed.

    Not healed: an empty prompt, a special last token (BOS, a sentinel), one that is only part of a UTF-8
    character, and a prompt of one token (the model would then start from nothing).
    """
    if len(ids) < 2 or ids[-1] in special:
        return list(ids), ""
    text = piece(ids[-1])
    if not text or "\ufffd" in text:
        return list(ids), ""
    return list(ids[:-1]), text


class Healer:
    """Which tokens may come next while the generated text has not yet spelled the taken-back text again."""

    def __init__(self, pieces: Sequence[str]) -> None:
        self.pieces = pieces
        """The text of each token id, as it reads inside a text (no SentencePiece word-start space dropped)."""
        self._allowed: dict[str, list[int]] = {}

    def allowed(self, remaining: str) -> list[int]:
        """Tokens that continue a text of which `remaining` is still to be spelled: those that start with it, and
        those that are a first part of it."""
        if remaining not in self._allowed:
            self._allowed[remaining] = [i for i, p in enumerate(self.pieces)
                                        if p and (p.startswith(remaining) or remaining.startswith(p))]
        return self._allowed[remaining]


def healer_for(tokenizer: Any) -> Healer | None:
    """A healer over a transformers tokenizer's vocabulary, or None when its tokens do not decode one by one into
    the text they make together (SentencePiece drops a word-start space on its own): then nothing is healed."""
    probe = tokenizer("def f(x):\n    return x\n", add_special_tokens=False)["input_ids"]
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    if "".join(pieces[i] for i in probe) != tokenizer.decode(probe):
        return None
    return Healer(pieces)
