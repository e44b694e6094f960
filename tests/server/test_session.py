"""The session with a fake backend: cancellation, typed-through reuse, the result cache, prefetch, telemetry.

The fake backend is a scripted model (it writes a fixed answer, a piece at a time, optionally slowly), so
these tests can count model calls and see exactly when a generation was stopped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.profiles import get_profile
from server.backends.base import Capabilities, GenerationCounts, GenerationRequest
from server.context import CompletionRequest
from server.session import Session
from server.telemetry import read_events

DOC = "def double(x):\n    \n\n\nprint(double(2))\n"
CURSOR = DOC.index("    \n") + 4


class ScriptedModel:
    """Writes `answer` one word at a time, `delay` seconds a word; remembers each call."""

    name = "scripted"
    profile = get_profile("tiny")
    capabilities = Capabilities()
    trained_context: int | None = None
    prompt_rate: float | None = None

    def __init__(self, answer: str = "result = x * 2\n    return result", delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.prompts: list[str] = []
        self.pieces_written: list[int] = []
        self.lock = threading.Lock()

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def last_counts(self) -> GenerationCounts:
        return GenerationCounts()

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self.lock:
            self.prompts.append(request.prompt)
            self.pieces_written.append(0)
            pieces = self.answer.replace(" ", "\0 ").split("\0")
            for piece in pieces[:request.max_new_tokens]:
                time.sleep(self.delay)
                self.pieces_written[-1] += 1
                yield piece


async def started(tmp_path: Path, model: ScriptedModel, **server: object) -> Session:
    session = Session({}, load=lambda cfg, model_dir: model)
    session.configure(tmp_path, {"server": {"time_budget_ms": 5000, **server}})
    await session.load(lambda message: None)
    assert session.completer is not None, session.error
    return session


def at(chars: str = "", uri_text: str = DOC) -> CompletionRequest:
    """The document after typing `chars` at the cursor."""
    return CompletionRequest(uri_text[:CURSOR] + chars + uri_text[CURSOR:], CURSOR + len(chars), "m.py", "python")


async def test_a_newer_request_for_the_document_stops_the_older_between_tokens(tmp_path: Path) -> None:
    model = ScriptedModel(answer=" ".join(f"w{i}" for i in range(40)), delay=0.02)
    session = await started(tmp_path, model, max_new_tokens=40)
    older = asyncio.ensure_future(session.complete("file:///m.py", at("a")))
    while not model.pieces_written or model.pieces_written[0] == 0:
        await asyncio.sleep(0.005)
    newer = await session.complete("file:///m.py", at("ab"))
    assert await older is None  # superseded: no stale ghost text
    assert newer is not None and newer.source == "model"
    assert model.pieces_written[0] < 40  # the older generation stopped early
    assert model.pieces_written[1] == 40


async def test_the_same_request_twice_costs_one_model_call(tmp_path: Path) -> None:
    model = ScriptedModel(delay=0.01)
    session = await started(tmp_path, model, prefetch=False)  # a prefetch after the first would be a second call
    first, second = await asyncio.gather(session.complete("file:///m.py", at()), session.complete("file:///m.py", at()))
    assert first is not None and second is not None
    assert first.text == second.text == "result = x * 2\n    return result"
    assert len(model.prompts) == 1
    assert {first.source, second.source} == {"model", "cache"}


async def test_typing_through_the_suggestion_needs_no_model_call(tmp_path: Path) -> None:
    model = ScriptedModel()
    session = await started(tmp_path, model, prefetch=False)
    shown = await session.complete("file:///m.py", at())
    assert shown is not None
    rest = await session.complete("file:///m.py", at("resu"))
    assert rest is not None and rest.text == "lt = x * 2\n    return result"
    assert rest.source == "typed-through" and rest.id == shown.id
    assert len(model.prompts) == 1
    other = await session.complete("file:///m.py", at("resX"))
    assert other is not None and other.source == "model" and len(model.prompts) == 2


async def test_without_typed_through_every_keystroke_asks_the_model(tmp_path: Path) -> None:
    model = ScriptedModel()
    session = await started(tmp_path, model, typed_through=False, result_cache=False, prefetch=False)
    await session.complete("file:///m.py", at())
    again = await session.complete("file:///m.py", at("resu"))
    assert again is not None and again.source == "model" and len(model.prompts) == 2


async def test_the_suggestion_after_accepting_is_prefetched_while_the_user_reads(tmp_path: Path) -> None:
    model = ScriptedModel(answer="result = x * 2", delay=0.01)
    session = await started(tmp_path, model)
    shown = await session.complete("file:///m.py", at())
    assert shown is not None and session.jobs and session.jobs[0].prefetch  # started as soon as it was served
    rest = await session.complete("file:///m.py", at("res"))  # typing through keeps the prefetch going
    assert rest is not None and rest.source == "typed-through"
    session.accepted(shown.id)
    after = await session.complete("file:///m.py", at(shown.text))
    assert after is not None and after.source == "prefetch"
    assert len(model.prompts) == 2  # the prefetch was the only model call for the new cursor
    assert model.prompts[1].endswith("result = x * 2<fim_suffix>\n\n\nprint(double(2))\n<fim_middle>")


async def test_a_request_elsewhere_cancels_a_prefetch_it_does_not_need(tmp_path: Path) -> None:
    model = ScriptedModel(answer=" ".join(f"w{i}" for i in range(40)), delay=0.02)
    session = await started(tmp_path, model, max_new_tokens=40)
    shown = await session.complete("file:///m.py", at())
    assert shown is not None
    while len(model.prompts) < 2 or model.pieces_written[1] == 0:
        await asyncio.sleep(0.005)
    await session.complete("file:///other.py", CompletionRequest("x = ", 4, "other.py", "python"))
    assert model.pieces_written[1] < 40


async def test_generation_stops_where_postprocessing_would_cut(tmp_path: Path) -> None:
    model = ScriptedModel(answer="total\n    print(total)\n    print(total)\n    return")
    session = await started(tmp_path, model)
    end_of_line = CompletionRequest("x = 1\ny = x + \n", len("x = 1\ny = x + "), "m.py", "python")
    result = await session.complete("file:///m.py", end_of_line)
    assert result is not None and result.text == "total\n    print(total)"  # the line's rest and the next line
    # Pieces: "total\n", " ", " ", " ", " print(total)\n" and no more: the model stopped at the second newline.
    assert model.pieces_written == [5]


async def test_time_budget_returns_what_is_ready(tmp_path: Path) -> None:
    model = ScriptedModel(answer=" ".join(f"w{i}" for i in range(60)), delay=0.02)
    session = await started(tmp_path, model, max_new_tokens=60)
    session.cfg.server.time_budget_ms = 150
    result = await session.complete("file:///m.py", CompletionRequest("x = ", 4, "m.py", "python"))
    assert result is not None and "w0" in result.text
    assert model.pieces_written[0] < 60  # stopped by the deadline, not by the end of the answer


async def test_feedback_is_recorded_locally_and_unknown_ids_are_ignored(tmp_path: Path) -> None:
    model = ScriptedModel(answer="naïve😀 = 1")
    session = await started(tmp_path, model, prefetch=False)  # a prefetch would log a second generation, or not
    shown = await session.complete("file:///m.py", at())
    assert shown is not None
    session.shown(shown.id)
    session.partially_accepted(shown.id, 7)  # UTF-16 units: "naïve😀" is 6 characters, 7 units
    session.accepted(shown.id)
    session.shown("no-such-id")
    session.accepted("no-such-id")
    session.close()
    events = list(read_events(tmp_path / ".assistant" / "telemetry"))
    kinds = [(e["event"], e.get("chars")) for e in events]
    assert kinds == [("generation", None), ("served", 10), ("shown", 10), ("partial", 6), ("accepted", 10)]
    assert all(e["language"] == "python" and e["model"] == "scripted" for e in events)
    assert events[1]["source"] == "model" and events[1]["latency_ms"] >= 0


async def test_telemetry_off_writes_nothing(tmp_path: Path) -> None:
    session = await started(tmp_path, ScriptedModel(), telemetry=False)
    shown = await session.complete("file:///m.py", at())
    assert shown is not None
    session.accepted(shown.id)
    assert not (tmp_path / ".assistant" / "telemetry").exists()


async def test_bad_initialization_options_are_reported_and_ignored(tmp_path: Path) -> None:
    session = Session({}, load=lambda cfg, model_dir: ScriptedModel())
    session.configure(tmp_path, {"server": {"time_budget_ms": "soon"}})
    assert session.error is None
    assert session.warnings and "time_budget_ms" in session.warnings[0]
    assert session.cfg.server.time_budget_ms == 1000


async def test_a_model_that_fails_to_load_leaves_a_session_that_answers_nothing(tmp_path: Path) -> None:
    def broken(cfg: object, model_dir: object) -> ScriptedModel:
        raise RuntimeError("weights are gone")

    session = Session({}, load=broken)
    session.configure(tmp_path, None)
    await session.load(lambda message: None)
    assert session.error is not None and "weights are gone" in session.error
    assert await session.complete("file:///m.py", at()) is None


pytestmark = pytest.mark.timeout(60)


async def test_a_documents_window_is_kept_between_requests_and_a_cold_one_is_sized_by_the_engines_speed(
        tmp_path: Path) -> None:
    """The session hands each request the line its document's last prompt started at, and a window placed afresh
    holds what the engine evaluates in half the time budget (here 1 s at 80 words a second: 40 words)."""
    model = ScriptedModel(answer="x")
    model.prompt_rate = 80.0
    session = await started(tmp_path, model, time_budget_ms=1000, context_tokens=400, snippet_share=0.0,
                            prefetch=False, result_cache=False, typed_through=False)
    body = "".join(f"line {i} of the file\n" for i in range(200))

    def first_line(prompt: str) -> int:
        return int(prompt.split("line ", 1)[1].split()[0])

    await session.complete("file:///m.py", CompletionRequest(body + "x =", len(body) + 3, "m.py", "python"))
    start = first_line(model.prompts[-1])
    assert len(model.prompts[-1].split("<fim_suffix>")[0].split()) <= 40 + 2  # the window and its file header
    for n in range(1, 6):  # lines typed: the same first line, a growing window
        text = body + "".join(f"typed {i}\n" for i in range(n)) + "x ="
        await session.complete("file:///m.py", CompletionRequest(text, len(text), "m.py", "python"))
        assert first_line(model.prompts[-1]) == start
    session.forget("file:///m.py")
    model.prompt_rate = None  # not measured: a fresh window takes three quarters of the budget
    await session.complete("file:///m.py", CompletionRequest(body + "x =", len(body) + 3, "m.py", "python"))
    assert first_line(model.prompts[-1]) < start
    session.close()
