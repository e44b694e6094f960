"""Completion metrics: exact match, first-line match, edit similarity, chrF, BLEU, paired bootstrap, pass@k.

chrF and BLEU come from sacrebleu and edit distance from rapidfuzz; this module only decides what is
compared (whitespace at line ends does not count) and how per-example scores are aggregated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sacrebleu
from rapidfuzz.distance import Levenshtein

METRICS = ("exact_match", "first_line_match", "edit_similarity", "chrf", "bleu")
"""Per-example metrics, each in [0, 1], higher is better."""


def normalize(text: str) -> str:
    """Trailing whitespace of lines and trailing blank lines do not count; indentation does."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def first_line(text: str) -> str:
    return normalize(text).split("\n", 1)[0]


def score(prediction: str, reference: str) -> dict[str, float]:
    """Every per-example metric for one completion against what the author wrote."""
    p, r = normalize(prediction), normalize(reference)
    return {
        "exact_match": float(p == r),
        "first_line_match": float(first_line(p) == first_line(r)),
        "edit_similarity": float(Levenshtein.normalized_similarity(p, r)),
        "chrf": sacrebleu.sentence_chrf(p, [r]).score / 100 if p or r else 1.0,
        "bleu": sacrebleu.sentence_bleu(p, [r]).score / 100 if p or r else 1.0,
    }


def corpus_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus-level chrF and BLEU (what papers report), alongside the per-example means."""
    p = [normalize(x) for x in predictions]
    r = [normalize(x) for x in references]
    return {"corpus_chrf": sacrebleu.corpus_chrf(p, [r]).score / 100,
            "corpus_bleu": sacrebleu.corpus_bleu(p, [r]).score / 100}


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 1000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """Mean of b - a with a percentile bootstrap confidence interval, resampling examples in pairs."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size == 0:
        return Interval(0.0, 0.0, 0.0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return Interval(float(diff.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass: 1 - C(n-c, k) / C(n, k), computed stably."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
