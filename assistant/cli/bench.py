"""`assistant bench latency`: time to ghost text with the server's latency features on and off, in one run.

    assistant bench latency --repo R [--examples 6] [--max-chars 240] [--keystroke-ms 60] [--backend B] [--json]

Two servers run the repository's model: one as configured (KV reuse, result cache, typed-through reuse,
prefetch, speculative decoding and cold prompts sized to the engine's speed, all on by default), one with those
six off (time budget, cancellation, the steady window above the cursor and stopping once the ghost text is
settled stay on in both). The same scripted typist (`server.replay`) types
the repository's held-out code into each, one example on one then on the other, so that both see the same
machine load. Printed per server: time to ghost text p50/p95 at the typist's pauses, model calls per
accepted character, how often an answer came without a model call, how often the shown ghost text was what
the user then typed, how many draft tokens the model agreed with; and the on/off ratio of the p50 (target:
at most 0.4).

Then the floor, in the same run once both servers have stopped: the bare engine (the same backend, loaded in
this process) on the prompts the pauses ask for, each already in its KV cache, generating as many tokens as
the `on` server's model calls that ran to their end did (median), with no LSP, no context building, no stop rules and no
postprocessing. The `on` p50 over the floor p50 is our own overhead (target: at most 1.5).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import typer

from assistant import workspace
from assistant.cli.common import console, resolve_config

TARGET_RATIO = 0.4
TARGET_OVER_FLOOR = 1.5
FLOOR_PROMPTS = 48
"""Most pause prompts the floor is timed on (spread over the examples)."""
FEATURES_OFF = {"kv_reuse": False, "result_cache": False, "typed_through": False, "prefetch": False,
                "draft_tokens": 0, "cold_prompt_share": 0.0}
"""The latency features, and the settings that turn them off (the `off` server)."""


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Benchmarks that print a ratio against a baseline measured in the same run.",
                        no_args_is_help=True)
    bench.command("latency")(latency)
    app.add_typer(bench, name="bench")


def latency(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose model and held-out code to use."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <repo>/.assistant/model)."),
    examples: int = typer.Option(6, "--examples", min=1, help="Held-out examples to type."),
    max_chars: int = typer.Option(240, "--max-chars", min=8, help="Type at most this much of each example."),
    keystroke_ms: float = typer.Option(60.0, "--keystroke-ms", min=0.0, help="Time between two keystrokes."),
    backend: str = typer.Option(None, "--backend", help="Engine both servers and the floor use (default: "
                                "server.backend, auto)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Replay typing of held-out code against the real server, latency features on and off; print the ratio."""
    from assistant.errors import UserError
    from server.replay import Text, Typist
    from trainer.mining.git import Repo
    from trainer.mining.mine import load_or_mine

    git = Repo.open(repo)
    cfg = resolve_config(git.root, {"server.backend": backend})
    dataset = load_or_mine(git, cfg.mine, workspace.data_dir(git.root), console)
    pool = [ex for ex in dataset.heldout if len(ex.middle.strip()) >= 8]
    if len(pool) < examples:
        newest = sorted((ex for ex in dataset.train if len(ex.middle.strip()) >= 8), key=lambda ex: -ex.timestamp)
        console.print(f"bench: {len(pool)} usable held-out examples; adding {examples - len(pool)} of the newest "
                      "training examples")
        pool += newest[:examples - len(pool)]
    if not pool:
        raise UserError(f"{git.root} has no examples to type; run `assistant train --repo {repo}` first")
    picked = [pool[i * len(pool) // min(examples, len(pool))] for i in range(min(examples, len(pool)))]
    samples = [Text(ex.path, ex.prefix, _first_lines(ex.middle, max_chars), ex.suffix) for ex in picked]
    chosen_dir = model_dir or (Path(cfg.server.model_dir) if cfg.server.model_dir else None)
    typist = Typist(keystroke_ms=keystroke_ms)
    figures = asyncio.run(_run(git.root, chosen_dir, samples, typist, backend))
    figures["ratio_p50"] = (figures["on"]["p50_ms"] / figures["off"]["p50_ms"]
                            if figures["on"]["p50_ms"] is not None and figures["off"]["p50_ms"] else None)
    figures["target"] = TARGET_RATIO
    figures["floor"] = _floor(cfg.server, chosen_dir or workspace.model_dir(git.root), samples,
                              figures["on"]["tokens_per_call_p50"])
    floor = figures["floor"]["p50_ms"]
    figures["over_floor_p50"] = figures["on"]["p50_ms"] / floor if figures["on"]["p50_ms"] is not None and floor \
        else None
    figures["target_over_floor"] = TARGET_OVER_FLOOR
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)


def _floor(server_cfg: Any, model_dir: Path, samples: list[Any], tokens: float | None) -> dict[str, Any]:
    """The bare engine's time for one cached completion of `tokens` tokens at each pause's prompt."""
    import time
    from dataclasses import replace

    from assistant.numbers import percentile
    from server.backends import load_backend
    from server.backends.base import GenerationRequest, generate
    from server.context import CompletionRequest
    from server.pipeline import Completer
    from server.replay import pause_points

    count = max(1, round(tokens or 1))
    backend = load_backend(server_cfg, model_dir)
    completer = Completer(backend, replace(server_cfg, draft_tokens=0, kv_reuse=True))  # the engine, plain
    requests = [CompletionRequest(text=s.before + s.middle[:i] + s.after, offset=len(s.before) + i, path=s.path)
                for s in samples for i in pause_points(s.middle)]
    step = max(1, len(requests) // FLOOR_PROMPTS)
    times = []
    for req in requests[::step][:FLOOR_PROMPTS]:
        prompt = completer.prepare(req).prompt
        generate(backend, GenerationRequest(prompt, max_new_tokens=1))  # the prompt goes into the KV cache
        started = time.monotonic()
        generate(backend, GenerationRequest(prompt, max_new_tokens=count))
        times.append((time.monotonic() - started) * 1000)
    console.print(f"bench: floor timed on {len(times)} prompts ({backend.name}, {count} tokens each)")
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "prompts": len(times),
            "tokens": count, "model": backend.name}


def _first_lines(middle: str, limit: int) -> str:
    """The whole lines of `middle` within `limit` characters (a shorter hunk reads as code; half a line glued
    to the code after it does not); just the characters when its first line alone is longer."""
    if len(middle) <= limit:
        return middle
    cut = middle.rfind("\n", 0, limit)
    return middle[:cut + 1] if cut >= 0 else middle[:limit]


async def _run(root: Path, model_dir: Path | None, samples: list[Any], typist: Any,
               backend: str | None) -> dict[str, Any]:
    from server.replay import Editor, Tally

    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        # Where telemetry goes is the user's choice (a trusted-only key), so it travels on the command line;
        # the features switched off are ordinary settings and go as initializationOptions, as an editor's would.
        options = {name: {"telemetry": True, **(FEATURES_OFF if name == "off" else {})} for name in ("on", "off")}
        console.print(f"bench: starting two servers; typing {len(samples)} examples "
                      f"({sum(len(s.middle) for s in samples)} characters) into each")
        editors = await asyncio.gather(*(Editor.start(root, model_dir, options[n], typist, Path(tmp) / n, backend)
                                         for n in ("on", "off")))
        tallies = {"on": Tally(), "off": Tally()}
        try:
            for i, sample in enumerate(samples, 1):
                for name, editor in zip(("on", "off"), editors, strict=True):
                    await editor.type_text(sample, tallies[name])
                console.print(f"bench: example {i}/{len(samples)} typed ({sample.path})")
        finally:
            await asyncio.gather(*(e.stop() for e in editors), return_exceptions=True)
        return {name: _figures(tallies[name], Path(tmp) / name) for name in ("on", "off")}


def _figures(tally: Any, telemetry: Path) -> dict[str, Any]:
    from assistant.numbers import percentile
    from server.telemetry import read_events

    events = list(read_events(telemetry)) if telemetry.is_dir() else []
    served = [e for e in events if e["event"] == "served"]
    generations = [e for e in events if e["event"] == "generation"]
    calls = len(generations)
    # The completions a request waited for to their end: a call cancelled after a token or two, because the
    # user typed on, is no completion, and would make the floor's one look short.
    finished = [e.get("tokens") or 0 for e in generations
                if not e.get("prefetch") and e.get("finish") in ("stop", "length")]
    call_ms = [e["seconds"] * 1000 for e in generations if not e.get("prefetch") and "seconds" in e]
    reused = [e.get("reused_tokens") or 0 for e in generations]
    drafted = sum(e.get("drafted_tokens") or 0 for e in generations)
    agreed = sum(e.get("accepted_draft_tokens") or 0 for e in generations)
    return {
        "p50_ms": percentile(tally.pause_ms, 50), "p95_ms": percentile(tally.pause_ms, 95),
        "pauses": len(tally.pause_ms), "requests": tally.requests, "cancelled": tally.cancelled,
        "typed_chars": tally.typed_chars, "accepted_chars": tally.accepted_chars, "model_calls": calls,
        "model_calls_per_accepted_char": calls / tally.accepted_chars if tally.accepted_chars else None,
        "cache_hit_rate": sum(e.get("source") != "model" for e in served) / len(served) if served else None,
        "shown": tally.shown,
        "shown_was_prefix_rate": tally.shown_was_prefix / tally.shown if tally.shown else None,
        "reused_prompt_tokens_mean": sum(reused) / len(reused) if reused else None,
        "drafted_tokens": drafted,
        "draft_acceptance": agreed / drafted if drafted else None,
        "tokens_per_call_p50": percentile(finished, 50),
        "model_call_p50_ms": percentile(call_ms, 50), "model_call_p95_ms": percentile(call_ms, 95),
        "prefetch_calls": sum(bool(e.get("prefetch")) for e in generations),
    }


def _print(figures: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    def fmt(value: Any, pattern: str) -> str:
        return "-" if value is None else pattern.format(value)

    table = Table(title="time to ghost text at the typist's pauses, latency features on and off (one run)",
                  box=box.SIMPLE_HEAD)
    for col in ("features", "p50 ms", "p95 ms", "pauses", "call p95", "prefetches", "calls/char", "hits", "prefix",
                "accepted", "reused", "drafts"):
        table.add_column(col, justify="right", no_wrap=True)
    for name in ("on", "off"):
        f = figures[name]
        table.add_row(name, fmt(f["p50_ms"], "{:.1f}"), fmt(f["p95_ms"], "{:.1f}"), str(f["pauses"]),
                      fmt(f["model_call_p95_ms"], "{:.0f}"), str(f["prefetch_calls"]),
                      fmt(f["model_calls_per_accepted_char"], "{:.3f}"), fmt(f["cache_hit_rate"], "{:.0%}"),
                      fmt(f["shown_was_prefix_rate"], "{:.0%}"), str(f["accepted_chars"]),
                      fmt(f["reused_prompt_tokens_mean"], "{:.0f}"), fmt(f["draft_acceptance"], "{:.0%}"))
    out = Console(highlight=False)
    if not out.is_terminal:  # a log or a pipe: room for the whole table
        out = Console(highlight=False, width=120)
    out.print(table)
    out.print("call p95: the model calls' own time (ms, requests only); prefetches: model calls made ahead of an "
              "accept; calls/char: model calls per accepted character; hits: answers without a model call; "
              "prefix: shown ghost texts that were what the user typed next; accepted: characters; reused: prompt "
              "tokens a model call took from the kept KV cache (mean); drafts: speculative draft tokens the model "
              "agreed with")
    ratio = figures["ratio_p50"]
    verdict = "-" if ratio is None else "met" if ratio <= TARGET_RATIO else "NOT met"
    out.print(f"p50 ratio on/off: {fmt(ratio, '{:.3f}')} (target <= {TARGET_RATIO}: {verdict})")
    floor, over = figures["floor"], figures["over_floor_p50"]
    verdict = "-" if over is None else "met" if over <= TARGET_OVER_FLOOR else "NOT met"
    out.print(f"floor (bare engine, {floor['model']}): p50 {fmt(floor['p50_ms'], '{:.1f}')} ms, p95 "
              f"{fmt(floor['p95_ms'], '{:.1f}')} ms for {floor['tokens']} cached tokens on {floor['prompts']} prompts; "
              f"on p50 / floor p50: {fmt(over, '{:.2f}')} (target <= {TARGET_OVER_FLOOR}: {verdict})")
