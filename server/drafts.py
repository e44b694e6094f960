"""Draft tokens for speculative decoding: guesses of what a greedy model writes next, checked in one pass.

A completion's next tokens are often on the page already. The code being written repeats code above it
(an argument list, a name, a line written twice), and the last completion the server computed, for a
prompt one keystroke older, usually goes on the same way. `Drafts.propose` finds the longest tail (up to
`MAX_NGRAM` tokens) of the current sequence (prompt and tokens generated so far) in the sequences of the
last few completions and in the current one, and proposes the tokens that followed it there. Before the
first token, with no such match, it proposes the last completion from its start.

The backend runs a proposal through the model together with the next token, in one forward pass, and
keeps the part the model agrees with: the output is the greedy output, token for token. A wrong guess costs
the extra positions of that pass; the draft length adapts (short at first, doubled after a draft that was all
right, halved after one that was not) so that a model that rarely repeats pays for few of them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX_NGRAM = 3
"""Longest tail of the sequence looked up: longer matches are no more reliable, only slower to find."""

KEPT_COMPLETIONS = 4
"""Recent completions (with the end of their prompt) that drafts are looked up in."""

FIRST_LENGTH = 4
"""A draft's length before drafts have proved right: on a CPU each draft token costs a good share of a model pass
of its own, so long guesses must earn their length."""

KEPT_PROMPT_TOKENS = 64
"""Tokens before a kept completion, so a tail that ends in the typed text still finds its place in it."""


@dataclass(frozen=True)
class _Kept:
    tokens: list[int]
    """The end of the prompt, then the completion's tokens (its end token included when it had one)."""
    start: int
    """Where the completion starts in `tokens`."""


class Drafts:
    """Proposes draft tokens from recent completions and the current sequence; learns how long to make them."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.length = min(max_tokens, FIRST_LENGTH)
        """The next draft's length: adapts to how often drafts are right."""
        self._kept: deque[_Kept] = deque(maxlen=KEPT_COMPLETIONS)

    def remember(self, prompt: list[int], completion: list[int]) -> None:
        """Keep a finished (or cut short) completion and the end of its prompt for later drafts."""
        if completion:
            tail = prompt[-KEPT_PROMPT_TOKENS:]
            self._kept.appendleft(_Kept(tail + completion, len(tail)))

    def propose(self, sequence: list[int], generated: int, limit: int) -> list[int]:
        """Up to `limit` tokens that may follow `sequence`, whose last `generated` tokens the model wrote now."""
        limit = min(limit, self.length)
        if limit <= 0 or not sequence:
            return []
        best, at, source = 0, 0, sequence
        for kept in self._kept:
            found, after = longest_tail_match(sequence, kept.tokens, len(kept.tokens) - 1)
            if found > best:
                best, at, source = found, after, kept.tokens
        found, after = longest_tail_match(sequence, sequence, len(sequence) - 2)
        if found > best:
            best, at, source = found, after, sequence
        if best:
            return source[at:at + limit]
        if generated == 0 and self._kept:  # nothing to go on: the last completion probably still holds
            kept = self._kept[0]
            return kept.tokens[kept.start:kept.start + limit]
        return []

    def checked(self, proposed: int, accepted: int) -> None:
        """The model kept `accepted` of `proposed` draft tokens: lengthen drafts after a full match, else shorten."""
        if proposed == 0:
            return
        if accepted == proposed:
            self.length = min(self.max_tokens, self.length * 2)
        else:
            self.length = max(1, self.length // 2)


def agreed_length(picks: list[int], draft: list[int]) -> int:
    """How many of `draft`'s tokens, from its start, are the tokens the model picked after each position."""
    count = 0
    while count < len(draft) and picks[count] == draft[count]:
        count += 1
    return count


def longest_tail_match(sequence: list[int], pool: list[int], last: int) -> tuple[int, int]:
    """The longest tail of `sequence` (at most MAX_NGRAM tokens) that ends in `pool` at or before index `last`,
    the latest such place on a tie: (its length, the index in `pool` right after it). (0, 0) when none."""
    end = sequence[-1]
    best, after = 0, 0
    for i in range(min(last, len(pool) - 2), -1, -1):  # something must follow the match to be proposed
        if pool[i] != end:
            continue
        n = 1
        while n < MAX_NGRAM and i - n >= 0 and n < len(sequence) and pool[i - n] == sequence[-1 - n]:
            n += 1
        if n > best:
            best, after = n, i + 1
            if n == MAX_NGRAM:
                break
    return best, after
