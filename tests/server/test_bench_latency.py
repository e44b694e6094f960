"""`assistant bench latency`: the typing replay runs against two real servers and reports comparable figures.

The speed target itself (on/off p50 <= 0.4) is the benchmark's to print, not a test's to time; this test
checks that the replay really drives both servers, that the on/off switches reach them, and that the
figures are computed from what happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli


def test_bench_latency_replays_typing_with_features_on_and_off(tiny_workspace: Path) -> None:
    proc = run_cli("bench", "latency", "--repo", str(tiny_workspace), "--examples", "1", "--max-chars", "60",
                   "--keystroke-ms", "20", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout)
    on, off = figures["on"], figures["off"]
    for f in (on, off):
        assert f["pauses"] >= 2 and f["requests"] >= f["pauses"]
        assert f["typed_chars"] + f["accepted_chars"] >= 1 and f["model_calls"] >= 1
        assert 0 < f["p50_ms"] <= f["p95_ms"]
    assert off["cache_hit_rate"] in (0.0, None)  # features off: every answer from the model
    assert off["reused_prompt_tokens_mean"] == 0  # no KV reuse
    assert on["reused_prompt_tokens_mean"] > 0  # the same keystrokes reuse the kept cache
    assert off["drafted_tokens"] == 0 and off["draft_acceptance"] is None  # no speculative decoding
    assert off["prefetch_calls"] == 0 and 0 < off["model_call_p50_ms"] <= off["model_call_p95_ms"]
    assert on["drafted_tokens"] > 0 and 0 <= on["draft_acceptance"] <= 1
    assert figures["ratio_p50"] == pytest.approx(on["p50_ms"] / off["p50_ms"])
    assert figures["target"] == 0.4
    floor = figures["floor"]  # the bare engine on the pauses' prompts, timed in the same run
    assert floor["prompts"] >= 2 and 0 < floor["p50_ms"] <= floor["p95_ms"] and floor["tokens"] >= 1
    assert floor["tokens"] == max(1, round(on["tokens_per_call_p50"]))
    assert figures["over_floor_p50"] == pytest.approx(on["p50_ms"] / floor["p50_ms"])
    assert "floor timed on" in proc.stderr
    assert "bench: example 1/1 typed" in proc.stderr


pytestmark = pytest.mark.slow
