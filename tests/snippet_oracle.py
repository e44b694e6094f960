"""The snippet ranking written plainly, as the tests' oracle for `assistant.snippets` (which computes the same
with remembered identifiers and bit masks): sliding windows ranked by Jaccard similarity of identifier tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.prompt import Snippet

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: str) -> frozenset[str]:
    return frozenset(_IDENT.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Window:
    path: str
    start_line: int
    text: str


def windows(path: str, text: str, size: int = 20, stride: int = 10) -> list[Window]:
    """Overlapping windows of `size` lines every `stride` lines (a short file is one window)."""
    lines = text.splitlines()
    if len(lines) <= size:
        return [Window(path, 0, "\n".join(lines))] if text.strip() else []
    out = []
    for start in range(0, len(lines) - size + stride, stride):
        chunk = "\n".join(lines[start:start + size])
        if chunk.strip():
            out.append(Window(path, start, chunk))
    return out


def query_of(prefix: str, lines: int = 20) -> str:
    """The code right before the cursor: what snippets should resemble."""
    return "\n".join(prefix.splitlines()[-lines:])


def rank_snippets(query: str, documents: Iterable[tuple[str, str]], top_k: int = 3, size: int = 20,
                  min_score: float = 0.05) -> list[Snippet]:
    """The `top_k` windows of `documents` most similar to `query`, best first, at most one per document."""
    q = identifiers(query)
    best: dict[str, tuple[float, Window]] = {}
    for path, text in documents:
        for w in windows(path, text, size=size, stride=max(1, size // 2)):
            score = jaccard(q, identifiers(w.text))
            if score >= min_score and (path not in best or score > best[path][0]):
                best[path] = (score, w)
    ranked = sorted(best.values(), key=lambda sw: (-sw[0], sw[1].path))
    return [Snippet(w.path, w.text) for _, w in ranked[:top_k]]
