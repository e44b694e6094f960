"""`assistant stats`: acceptance, accepted characters, latency and cache hits from the local telemetry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from assistant.cli.stats import stats
from assistant.numbers import percentile
from server.telemetry import Telemetry, read_events, summarize


def record_a_session(repo: Path) -> None:
    """What a server writes for: 4 python suggestions (2 shown, 1 accepted, 1 partly) and 1 go suggestion."""
    t = Telemetry(repo / ".assistant" / "telemetry")
    py, go = {"language": "python", "model": "tiny"}, {"language": "go", "model": "tiny"}
    t.record("generation", **py, tokens=8, seconds=0.05, finish="stop", prefetch=False, reused_tokens=0)
    t.record("generation", **py, tokens=8, seconds=0.05, finish="stop", prefetch=True, reused_tokens=90)
    for item_id, source, latency in (("a", "model", 100.0), ("b", "cache", 2.0), ("c", "typed-through", 1.0),
                                     ("d", "prefetch", 3.0)):
        t.record("served", **py, id=item_id, source=source, chars=10, latency_ms=latency)
    t.record("shown", **py, id="a", chars=10)
    t.record("shown", **py, id="a", chars=10)  # shown twice: one suggestion
    t.record("shown", **py, id="b", chars=10)
    t.record("accepted", **py, id="a", chars=10)
    t.record("partial", **py, id="b", chars=3)
    t.record("partial", **py, id="b", chars=6)  # acceptedLength grows: the last one counts
    t.record("served", **go, id="e", source="model", chars=4, latency_ms=50.0)
    t.close()
    with open(repo / ".assistant" / "telemetry" / "cut.jsonl", "w", encoding="utf-8") as f:
        f.write('{"event": "served", "language": "go"')  # a line cut short by a crash is skipped


def test_stats_json_per_language_and_model(tmp_path: Path) -> None:
    record_a_session(tmp_path)
    proc = run_cli("stats", "--repo", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["events"] == 13
    python = next(g for g in report["language"] if g["key"] == "python")
    assert (python["shown"], python["accepted"], python["partially_accepted"]) == (2, 1, 1)
    assert python["acceptance_rate"] == 1.0 and python["accepted_chars"] == 16
    assert python["served"] == 4 and python["cache_hit_rate"] == 0.75 and python["model_calls"] == 2
    assert (python["latency_p50_ms"], python["latency_p95_ms"]) == (2.0, 100.0)
    (model,) = report["model"]
    assert model["key"] == "tiny" and model["served"] == 5 and model["cache_hit_rate"] == 0.6


def test_stats_table_and_an_empty_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats(repo=tmp_path, as_json=False)
    assert "no telemetry" in capsys.readouterr().out
    record_a_session(tmp_path)
    stats(repo=tmp_path, as_json=False)
    out = capsys.readouterr().out
    assert "completions by language" in out and "completions by model" in out
    assert "python" in out and "go" in out and "75%" in out


def test_summaries_and_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    events = [{"event": "served", "language": "x", "source": "model", "latency_ms": 1.0},
              {"event": "accepted", "language": "x", "id": "z", "chars": 4}]  # accepted without a shown event
    (group,) = summarize(events, "language")
    assert group.shown == 1 and group.acceptance_rate == 1.0 and group.cache_hit_rate == 0.0


def test_telemetry_to_an_unwritable_place_turns_itself_off(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    t = Telemetry(blocker / "telemetry")
    t.record("served", id="a")  # must not raise: completions go on without telemetry
    assert t.directory is None
    assert list(read_events(tmp_path)) == []
