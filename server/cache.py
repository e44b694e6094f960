"""Answers without a model call: a result cache keyed by the prompt, and typing through a shown suggestion.

- `ResultCache`: the model's raw output for a prompt it has completed recently (the same document and cursor
  again, or the state a prefetch computed ahead of the user). Only finished generations are kept; one cut
  by the time budget or by cancellation is not the model's whole answer.
- `typed_through`: the user typed the first characters of the suggestion on screen; the rest of it is still
  the model's answer for the new cursor, so it is returned at once.

Both are bounded: the cache by entries, the shown suggestions by documents (one each, dropped on close).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from server.backends.base import Generation

CACHE_ENTRIES = 256
"""Prompts remembered; a prompt is a few kB, so this stays around a megabyte."""


@dataclass(frozen=True)
class CachedGeneration:
    generation: Generation
    prefetched: bool
    """Computed ahead of the user (after an accept), not for a request."""


class ResultCache:
    """An LRU map from (prompt, max_new_tokens) to the raw generation. Thread-safe: workers write, requests read."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple[str, int], CachedGeneration] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, prompt: str, max_new_tokens: int) -> CachedGeneration | None:
        with self._lock:
            hit = self._items.get((prompt, max_new_tokens))
            if hit is not None:
                self._items.move_to_end((prompt, max_new_tokens))
            return hit

    def put(self, prompt: str, max_new_tokens: int, generation: Generation, prefetched: bool = False) -> None:
        if generation.finish not in ("stop", "length"):
            return  # cut short (deadline, cancelled): not what the model would answer given the time
        with self._lock:
            self._items[(prompt, max_new_tokens)] = CachedGeneration(generation, prefetched)
            self._items.move_to_end((prompt, max_new_tokens))
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Shown:
    """The last suggestion served for a document: its id, and the document and cursor it was made for."""

    id: str
    text: str
    offset: int
    completion: str


def typed_through(shown: Shown, text: str, offset: int) -> str | None:
    """The rest of `shown`'s suggestion if the document is its document plus a typed prefix of it, else None.

    Typing nothing (the same document and cursor again) returns the whole suggestion.
    """
    typed = offset - shown.offset
    if typed < 0 or typed >= len(shown.completion) or len(text) != len(shown.text) + typed:
        return None
    if not shown.completion.startswith(text[shown.offset:offset]):
        return None
    if text[:shown.offset] != shown.text[:shown.offset] or text[offset:] != shown.text[shown.offset:]:
        return None
    rest = shown.completion[typed:]
    return rest if rest.strip() else None
