"""`assistant stats`: how the completions served in this repository fared, from its local telemetry.

    assistant stats [--repo .] [--json]

Reads `<repo>/.assistant/telemetry/` (or `server.telemetry_dir`), written by `assistant serve`; nothing
is ever sent anywhere. Per language and per model: suggestions shown, acceptance rate (accepted in full
or in part, per shown suggestion), accepted characters, time to ghost text p50/p95, and how often a
suggestion came without a model call (cache, prefetch, typed-through).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assistant import workspace
from assistant.cli.common import resolve_config


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose telemetry to read."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Acceptance rate, accepted characters, latency and cache hits, per language and per model."""
    from server.telemetry import read_events, summarize

    cfg = resolve_config(repo, {})
    directory = (Path(cfg.server.telemetry_dir).expanduser() if cfg.server.telemetry_dir
                 else workspace.telemetry_dir(repo))
    events = list(read_events(directory)) if directory.is_dir() else []
    groups = {by: summarize(events, by) for by in ("language", "model")}
    if as_json:
        print(json.dumps({"telemetry": str(directory), "events": len(events),
                          **{by: [g.to_json() for g in rows] for by, rows in groups.items()}}, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    if not events:
        out.print(f"no telemetry in {directory} yet: it is written while `assistant serve` runs in this repository")
        return

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    out.print(f"telemetry: {directory} ({len(events)} events)\n"
              "shown: suggestions displayed; accepted: in full / in part; rate: accepted per shown; chars: accepted "
              "characters; ms: time to ghost text p50/p95; hits: served without a model call; calls: model calls")
    for by, rows in groups.items():
        table = Table(title=f"completions by {by}", box=box.SIMPLE_HEAD)
        table.add_column(by, overflow="fold", min_width=10)
        for col in ("shown", "accepted", "rate", "chars", "served", "ms", "hits", "calls"):
            table.add_column(col, justify="right", no_wrap=True)
        for g in rows:
            table.add_row(g.key, str(g.shown), f"{g.accepted} / {g.partially_accepted}", pct(g.acceptance_rate),
                          str(g.accepted_chars), str(g.served), f"{ms(g.latency_ms(50))} / {ms(g.latency_ms(95))}",
                          pct(g.cache_hit_rate), str(g.model_calls))
        out.print(table)
