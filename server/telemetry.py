"""Local telemetry: what was shown, accepted and how fast, as JSON lines under `<workspace>/.assistant/telemetry/`.

Nothing here opens a socket: the records stay on this machine, for `assistant stats`. One file a day
(`YYYY-MM-DD.jsonl`), one event a line:

    served      a suggestion returned to the editor: id, source (model, cache, prefetch, typed-through),
                chars, latency_ms
    shown       the editor displayed it (textDocument/didShowCompletion)
    partial     the user accepted part of it (textDocument/didPartiallyAcceptCompletion): chars accepted
    accepted    the user accepted all of it (the item's repo-assistant.accept command): chars
    generation  one model call: tokens, seconds, finish, prefetch, reused_tokens (prompt tokens from the kept
                KV cache), drafted_tokens and accepted_draft_tokens (speculative decoding)

Every event also carries t (Unix time), language and model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from assistant.numbers import percentile

log = logging.getLogger("assistant.server")

ITEMS_KEPT = 1000
"""Suggestions remembered for their feedback (shown, accepted); older ids are forgotten."""


@dataclass
class Item:
    """A suggestion served under an id, for the feedback that may follow it."""

    uri: str
    language: str
    model: str
    text: str


class ItemLog:
    """The last `ITEMS_KEPT` suggestions by id (bounded: memory stays flat however long the server runs)."""

    def __init__(self, kept: int = ITEMS_KEPT) -> None:
        self.kept = kept
        self._items: OrderedDict[str, Item] = OrderedDict()

    def put(self, item_id: str, item: Item) -> None:
        self._items[item_id] = item
        self._items.move_to_end(item_id)
        while len(self._items) > self.kept:
            self._items.popitem(last=False)

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def __len__(self) -> int:
        return len(self._items)


class Telemetry:
    """Appends events to today's file in `directory`; does nothing when `directory` is None."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # model workers and the event loop both record
        self._file: IO[str] | None = None
        self._day = ""

    def record(self, event: str, **fields: Any) -> None:
        if self.directory is None:
            return
        line = json.dumps({"t": round(time.time(), 3), "event": event, **fields}, ensure_ascii=False)
        day = time.strftime("%Y-%m-%d")
        with self._lock:
            try:
                if self._file is None or day != self._day:
                    self._close()
                    self.directory.mkdir(parents=True, exist_ok=True)
                    self._file = open(self.directory / f"{day}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
                    self._day = day
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as e:  # a full disk or a read-only workspace must not stop completions
                log.warning("telemetry off: cannot write to %s (%s)", self.directory, e)
                self.directory = None
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(directory: Path) -> Iterator[dict[str, Any]]:
    """Every event recorded in `directory`, oldest file first; unreadable lines are skipped."""
    for path in sorted(directory.glob("*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: the others still count
                if isinstance(event, dict) and isinstance(event.get("event"), str):
                    yield event


@dataclass
class Summary:
    """Acceptance and latency of one group (a language or a model)."""

    key: str
    shown: int = 0
    accepted: int = 0
    partially_accepted: int = 0
    accepted_chars: int = 0
    served: int = 0
    from_memory: int = 0
    """Served without a model call (cache, prefetch, typed-through)."""
    model_calls: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float | None:
        return (self.accepted + self.partially_accepted) / self.shown if self.shown else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.from_memory / self.served if self.served else None

    def latency_ms(self, q: float) -> float | None:
        return percentile(self.latencies_ms, q)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "shown": self.shown, "accepted": self.accepted,
                "partially_accepted": self.partially_accepted, "acceptance_rate": self.acceptance_rate,
                "accepted_chars": self.accepted_chars, "served": self.served,
                "latency_p50_ms": self.latency_ms(50), "latency_p95_ms": self.latency_ms(95),
                "cache_hit_rate": self.cache_hit_rate, "model_calls": self.model_calls}


def summarize(events: Iterable[dict[str, Any]], by: str) -> list[Summary]:
    """Per value of `by` ('language' or 'model'): counts by suggestion id (an id shown twice counts once)."""
    shown: dict[str, set[str]] = defaultdict(set)
    accepted: dict[str, dict[str, int]] = defaultdict(dict)
    partial: dict[str, dict[str, int]] = defaultdict(dict)
    groups: dict[str, Summary] = {}
    for e in events:
        key = str(e.get(by) or "unknown")
        group = groups.setdefault(key, Summary(key))
        kind, item_id, chars = e["event"], str(e.get("id", "")), _int(e.get("chars"))
        if kind == "served":
            group.served += 1
            group.from_memory += e.get("source") != "model"
            if isinstance(e.get("latency_ms"), (int, float)):
                group.latencies_ms.append(float(e["latency_ms"]))
        elif kind == "shown":
            shown[key].add(item_id)
        elif kind == "accepted":
            accepted[key][item_id] = accepted[key].get(item_id, 0) + chars
        elif kind == "partial":  # acceptedLength grows as the user accepts more of one suggestion
            partial[key][item_id] = max(partial[key].get(item_id, 0), chars)
        elif kind == "generation":
            group.model_calls += 1
    for key, group in groups.items():
        group.shown = len(shown[key] | set(accepted[key]) | set(partial[key]))
        group.accepted = len(accepted[key])
        group.partially_accepted = len(set(partial[key]) - set(accepted[key]))
        group.accepted_chars = sum(accepted[key].values()) + sum(partial[key].values())
    return sorted(groups.values(), key=lambda g: (-g.served, g.key))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
