"""Dropping repeated examples: exact duplicates, and near-duplicates of the same middle in the same file.

History repeats itself: a change reverted and made again, a branch's commits and the merge that brings
them in (diffed against the first parent), a block pasted twice. Examples are taken in the order given
(the miner gives the newest first, held-out commits before training ones), and an example is dropped when
- it is identical to one kept (same path, prefix, middle and suffix): 'duplicate';
- its middle, whitespace aside, equals a kept middle of the same file, or (for middles of 20 characters
  or more) is at least 90% similar to one of the last 200 kept there (rapidfuzz `fuzz.ratio`):
  'near-duplicate'.
So a training example that repeats a held-out one is dropped too: evaluation does not score code the
model trained on.
"""

from __future__ import annotations

from collections import Counter

from rapidfuzz import fuzz, process

from trainer.mining.examples import Example

NEAR_RATIO = 90.0
MIN_FUZZY_CHARS = 20
RECENT_PER_FILE = 200


def dedupe_examples(examples: list[Example]) -> tuple[list[Example], Counter[str]]:
    """The examples worth keeping, in order, and how many were dropped by reason."""
    dropped: Counter[str] = Counter()
    keys: set[tuple[str, str, str, str]] = set()
    middles: dict[str, set[str]] = {}
    recent: dict[str, list[str]] = {}
    kept = []
    for ex in examples:
        key = (ex.path, ex.prefix, ex.middle, ex.suffix)  # what `Example.key` hashes, without the hashing
        if key in keys:
            dropped["duplicate"] += 1
            continue
        norm = " ".join(ex.middle.split())
        seen, window = middles.setdefault(ex.path, set()), recent.setdefault(ex.path, [])
        if norm in seen or (len(norm) >= MIN_FUZZY_CHARS and window and process.extractOne(
                norm, window, scorer=fuzz.ratio, score_cutoff=NEAR_RATIO) is not None):
            dropped["near-duplicate"] += 1
            continue
        keys.add(key)
        seen.add(norm)
        window.append(norm)
        del window[:-RECENT_PER_FILE]
        kept.append(ex)
    return kept, dropped
