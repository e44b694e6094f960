"""Snippets of open documents, ranked as `assistant.snippets.rank_snippets` ranks them, without redoing the work.

Every keystroke asks which windows of the other open documents resemble the code before the cursor.
Those documents rarely change while the user types in another one, yet cutting them into windows and
collecting each window's identifiers is most of the cost (tens of milliseconds for ten files). This
module keeps the windows and their identifiers per document text and scores a query with the same
functions (`windows`, `identifiers`, `jaccard`), the same threshold and the same order as
`rank_snippets`; tests/server/test_context.py checks that the results are the same.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from assistant.prompt import Snippet
from assistant.snippets import Window, identifiers, jaccard, windows

MIN_SCORE = 0.05
"""`rank_snippets`' default threshold."""

CACHED_CHARS = 4_000_000
"""Documents whose windows are kept, in characters of their text (the least recently used go first)."""

_cache: OrderedDict[tuple[str, str, int], list[tuple[Window, frozenset[str]]]] = OrderedDict()
_cached_chars = 0
_lock = threading.Lock()


def _scored_windows(path: str, text: str, size: int) -> list[tuple[Window, frozenset[str]]]:
    global _cached_chars
    key = (path, text, size)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    scored = [(w, identifiers(w.text)) for w in windows(path, text, size=size, stride=max(1, size // 2))]
    with _lock:
        _cache[key] = scored
        _cached_chars += len(text)
        while _cached_chars > CACHED_CHARS and len(_cache) > 1:
            (_, old_text, _), _ = _cache.popitem(last=False)
            _cached_chars -= len(old_text)
    return scored


def rank_open_documents(query: str, documents: Iterable[tuple[str, str]], top_k: int, size: int) -> list[Snippet]:
    """`rank_snippets(query, documents, top_k, size)`, with each document's windows computed once per text."""
    q = identifiers(query)
    best: dict[str, tuple[float, Window]] = {}
    for path, text in documents:
        for w, ids in _scored_windows(path, text, size):
            score = jaccard(q, ids)
            if score >= MIN_SCORE and (path not in best or score > best[path][0]):
                best[path] = (score, w)
    ranked = sorted(best.values(), key=lambda sw: (-sw[0], sw[1].path))
    return [Snippet(w.path, w.text) for _, w in ranked[:top_k]]
