"""The end of mining and what the user sees of it: dedupe, split, weights, the stats and the progress bar.

`summarize` turns the mined examples into the `Dataset` with its stats (meta["stats"]); `stats_table`
renders those stats for `assistant mine --stats`; `MineProgress` is the bar with commits/s and ETA.
"""

from __future__ import annotations

import time
from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from assistant.config import MineConfig
from trainer.mining.dedupe import dedupe_examples
from trainer.mining.examples import Dataset, Example
from trainer.mining.git import CommitInfo
from trainer.mining.split import recency_weight

if TYPE_CHECKING:
    from trainer.mining.cutter import Tally

CHARS_PER_TOKEN = 4
"""No tokenizer exists at mining time (the tiny base builds its own from the examples): tokens are
estimated as characters / 4, a usual figure for code with BPE tokenizers, and reported as est_tokens."""

UNITS = {"secret": "examples", "duplicate": "examples", "near-duplicate": "examples",
         "unreadable-commit": "commits", "shallow-boundary": "commits"}
"""What each skip reason counts; any other reason counts file versions."""


def summarize(examples: list[Example], tally: Tally, commits: list[CommitInfo], held: int, cfg: MineConfig,
              started: float) -> Dataset:
    """Dedupe, split and weight the examples; the dataset with its stats (meta is completed by the caller)."""
    kept, dropped = dedupe_examples(examples)
    tally.skipped.update(dropped)
    train = [e for e in kept if e.split == "train"]
    heldout = [e for e in kept if e.split == "heldout"]
    newest = max(c.timestamp for c in commits[held:])
    for e in train:
        e.weight = recency_weight(e.timestamp, newest, cfg.recency_half_life_days)
    seconds = time.monotonic() - started
    stats: dict[str, Any] = {
        "commits": tally.commits,
        "commits_listed": len(commits),
        "heldout_commits": held,
        "file_versions": tally.file_versions,
        "files": len(tally.files),
        "train": len(train),
        "heldout": len(heldout),
        "kinds": dict(sorted(Counter(e.kind for e in kept).items())),
        "languages": dict(Counter(e.language for e in kept).most_common()),
        "est_tokens": {"train": _est_tokens(train), "heldout": _est_tokens(heldout)},
        "skipped": dict(sorted(tally.skipped.items())),
        "secrets": dict(sorted(Counter(kind for kind, _ in tally.secrets).items())),
        "seconds": round(seconds, 3),
        "commits_per_second": round(tally.commits / seconds, 1) if seconds > 0 else 0.0,
    }
    return Dataset(train=train, heldout=heldout, meta={"stats": stats})


def _est_tokens(examples: list[Example]) -> int:
    chars = sum(len(e.prefix) + len(e.middle) + len(e.suffix) + sum(len(t) for _, t in e.snippets) for e in examples)
    return chars // CHARS_PER_TOKEN


def stats_table(meta: dict[str, Any]) -> Table:
    """The stats of a mined dataset as one table: counts, then skipped by reason, secrets and languages."""
    s = meta["stats"]
    table = Table(title=f"mined {meta.get('repo', '')} at {str(meta.get('head', ''))[:12]}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("commits mined", s["commits"]), ("commits held out (newest)", s["heldout_commits"]),
        ("file versions", s["file_versions"]), ("files", s["files"]),
        ("examples: train", s["train"]), ("examples: held out", s["heldout"]),
        ("est. tokens (chars/4): train", s["est_tokens"]["train"]),
        ("est. tokens (chars/4): held out", s["est_tokens"]["heldout"]),
    ]
    rows += [(f"kind: {k}", n) for k, n in s["kinds"].items()]
    rows += [(f"skipped: {r} ({UNITS.get(r, 'file versions')})", n) for r, n in s["skipped"].items()]
    rows += [(f"secrets: {k}", n) for k, n in s["secrets"].items()]
    rows += [(f"language: {k} (examples)", n) for k, n in s["languages"].items()]
    rows += [("seconds", s["seconds"]), ("commits/s", s["commits_per_second"])]
    for what, n in rows:
        table.add_row(what, f"{n:,}" if isinstance(n, int) else str(n))
    cr = meta.get("commit_range", {})
    if cr:
        table.caption = f"held out: commits after {cr['split_commit'][:12]} ({cr['split_date']})"
    return table


class MineProgress:
    """A progress bar over commits with commits/s and ETA; silent without a console.

    Transient: it is gone when mining ends, so that an error after it is the one line on stderr (the
    summary line that follows a success repeats the rate)."""

    def __init__(self, console: Console | None, total: int) -> None:
        self._progress = None if console is None else Progress(
            TextColumn("[bold]mine"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True)
        self._task: TaskID | None = None
        self._total = total
        self._started = time.monotonic()
        self._done = 0

    def __enter__(self) -> MineProgress:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("mine", total=self._total, rate="")
        return self

    def advance(self, n: int = 1) -> None:
        self._done += n
        if self._progress is not None and self._task is not None:
            rate = self._done / max(time.monotonic() - self._started, 1e-6)
            self._progress.update(self._task, advance=n, rate=f"{rate:,.0f} commits/s")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
