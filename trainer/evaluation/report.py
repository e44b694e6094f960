"""The evaluation report: a terminal table, eval/report.json, eval/report.md and eval/comparison.png.

Each gives every metric overall, then by language with each language's count of examples (the terminal
only when there are several languages: with one, it is the overall table again).

The eval dir is published atomically, then the summary goes into model.json (atomically too) so the
server and the editors can show it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Group, RenderableType
from rich.table import Table

from assistant.modeldir import read_manifest, staged_dir, write_manifest
from trainer.evaluation.evaluate import EvalResult
from trainer.evaluation.metrics import METRICS

LABELS = {"exact_match": "exact match", "first_line_match": "first line", "edit_similarity": "edit similarity",
          "chrf": "chrF", "bleu": "BLEU"}


def metric_rows(s: dict[str, Any], colour: bool = False) -> list[tuple[str, str, str, str]]:
    """(metric, base, tuned, tuned - base with its 95% interval) for a summary or one language's part of it."""
    rows = []
    for m in METRICS:
        rows.append((LABELS[m], f"{s['base'][m]:.3f}", f"{s['tuned'][m]:.3f}",
                     difference(s["delta"][m], s["heldout_examples"], colour)))
    for key, label in (("corpus_chrf", "corpus chrF"), ("corpus_bleu", "corpus BLEU")):
        rows.append((label, f"{s['base'][key]:.3f}", f"{s['tuned'][key]:.3f}", ""))
    for key, label in (("latency_mean_s", "latency mean"), ("latency_p95_s", "latency p95")):
        rows.append((label, f"{s['base'][key] * 1000:.0f} ms", f"{s['tuned'][key] * 1000:.0f} ms", ""))
    return rows


def difference(d: dict[str, float], examples: int, colour: bool = False) -> str:
    """`+0.120 (+0.050 .. +0.190)`; green or red (rich markup) when the interval excludes zero."""
    if examples < 2:  # one example has no spread: its zero-width interval would look like certainty
        return f"{d['mean']:+.3f} (1 example: no interval)"
    text = f"{d['mean']:+.3f} ({d['low']:+.3f} .. {d['high']:+.3f})"
    shade = "green" if d["low"] > 0 else "red" if d["high"] < 0 else ""
    return f"[{shade}]{text}[/]" if colour and shade else text


def counts(s: dict[str, Any]) -> str:
    """`python 12, go 3`: the examples of each language."""
    return ", ".join(f"{lang} {part['heldout_examples']}" for lang, part in s["by_language"].items())


def table(result: EvalResult) -> RenderableType:
    """Every metric overall, then (with several languages) by language."""
    s = result.summary()
    t = Table(title=f"held-out commits: {s['heldout_examples']} completions, base vs tuned",
              caption=f"examples by language: {counts(s)}" if s["by_language"] else None)
    for col in ("metric", "base", "tuned", "tuned - base (95% CI)"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for row in metric_rows(s, colour=True):
        t.add_row(*row)
    if len(s["by_language"]) < 2:
        return t
    by = Table(title="by language")
    for col in ("language", "examples", "metric", "base", "tuned", "tuned - base (95% CI)"):
        by.add_column(col, justify="left" if col in ("language", "metric") else "right")
    for lang, part in s["by_language"].items():
        rows = metric_rows(part, colour=True)
        for i, row in enumerate(rows):
            head = (lang, str(part["heldout_examples"])) if i == 0 else ("", "")
            by.add_row(*head, *row, end_section=i == len(rows) - 1)
    return Group(t, by)


def one_line(result: EvalResult) -> str:
    s = result.summary()
    d = s["delta"]["edit_similarity"]
    head = {"better": "the tuned model beats the base", "worse": "the tuned model is WORSE than the base",
            "no clear difference": "no clear difference between tuned and base"}[s["verdict"]]
    interval = f"95% CI {d['low']:+.3f} .. {d['high']:+.3f}" if s["heldout_examples"] > 1 else "1 example: no interval"
    return (f"{head} on {s['heldout_examples']} held-out completions: edit similarity "
            f"{s['tuned']['edit_similarity']:.3f} vs {s['base']['edit_similarity']:.3f} "
            f"({d['mean']:+.3f}, {interval}), exact match "
            f"{s['tuned']['exact_match']:.1%} vs {s['base']['exact_match']:.1%}")


def write_report(model_dir: Path, result: EvalResult) -> dict[str, Any]:
    """Publish eval/ and record the summary in model.json; returns the summary."""
    summary = result.summary()
    with staged_dir(model_dir / "eval") as tmp:
        rows = [{"path": ex.path, "language": ex.language, "commit": ex.commit, "timestamp": ex.timestamp,
                 "expected": ex.middle, "base": b, "tuned": t, "base_scores": bs, "tuned_scores": ts}
                for ex, b, t, bs, ts in zip(result.examples, result.base.predictions, result.tuned.predictions,
                                            result.base.scores, result.tuned.scores, strict=True)]
        (tmp / "report.json").write_text(json.dumps({"summary": summary, "examples": rows}, indent=1) + "\n",
                                         encoding="utf-8")
        (tmp / "report.md").write_text(markdown(result, rows), encoding="utf-8")
        plot(summary, tmp / "comparison.png")
    manifest = read_manifest(model_dir)
    write_manifest(model_dir, dataclasses.replace(manifest, metrics=summary))
    return summary


def markdown(result: EvalResult, rows: list[dict[str, Any]], shown: int = 3) -> str:
    s = result.summary()
    lines = ["# Evaluation on held-out commits\n", f"{one_line(result)}.\n",
             f"Base: {result.base.name}. Tuned: {result.tuned.name}.\n", *markdown_table(s)]
    lines.append("## By language\n")
    for lang, part in s["by_language"].items():
        noun = "example" if part["heldout_examples"] == 1 else "examples"
        lines += [f"### {lang} ({part['heldout_examples']} {noun})\n", *markdown_table(part)]
    gain = sorted(rows, key=lambda r: r["tuned_scores"]["edit_similarity"] - r["base_scores"]["edit_similarity"])
    for title, picked in (("Where tuning helped most", gain[::-1][:shown]), ("Where it helped least", gain[:shown])):
        lines.append(f"## {title}\n")
        for r in picked:
            lines.append(f"`{r['path']}` at {r['commit'][:10]}\n")
            for label, text in (("expected", r["expected"]), ("base", r["base"]), ("tuned", r["tuned"])):
                lines.append(f"{label}:\n\n```\n{text.rstrip() or '(nothing)'}\n```\n")
    return "\n".join(lines)


def markdown_table(s: dict[str, Any]) -> list[str]:
    """The metric rows as a markdown table, and a blank line after it."""
    return ["| metric | base | tuned | tuned - base (95% CI) |", "| --- | --- | --- | --- |",
            *(f"| {' | '.join(row)} |" for row in metric_rows(s)), ""]


def plot(summary: dict[str, Any], path: Path) -> None:
    """Grouped bars, base vs tuned, one group per metric."""
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    xs = range(len(METRICS))
    width = 0.38
    base = [summary["base"][m] for m in METRICS]
    tuned = [summary["tuned"][m] for m in METRICS]
    ax.bar([x - width / 2 for x in xs], base, width, label="base", color="#9aa5b1")
    ax.bar([x + width / 2 for x in xs], tuned, width, label="tuned", color="#3b6ea8")
    ax.set_xticks(list(xs), [LABELS[m] for m in METRICS])
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (higher is better)")
    ax.set_title(f"held-out commits ({summary['heldout_examples']} completions)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

