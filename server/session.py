"""The server's state between requests, and the path of a completion request through its parts.

Latency comes from not calling the model when the answer is known, and from not waiting for stale work. A
request waits for the model (`startup`), then:
- if it types through the suggestion on screen, it gets the suggestion's rest at once (`cache.typed_through`);
- else it cancels the stale work a newer request makes moot and queues its own on the model thread (`jobs`);
- the suggestion served is recorded for the feedback that follows (`feedback`), and the one that follows
  accepting it is started while the user reads it (`prefetch`).
Every request gets `server.time_budget_ms` from its arrival, queueing included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Config, ServerConfig, load_config
from assistant.errors import UserError
from server.backends import load_backend
from server.cache import Shown, typed_through
from server.context import CompletionRequest
from server.feedback import Feedback
from server.jobs import Job, ModelThread
from server.pipeline import Completer, Completion
from server.prefetch import prefetch
from server.startup import Loader, load_completer, read_eval_summary, resolve_settings
from server.telemetry import Item, Telemetry

log = logging.getLogger("assistant.server")

StatusCallback = Callable[[str, str], None]
"""(state, message): the `$/assistant/status` notification, sent from the event loop."""


@dataclass(frozen=True)
class Suggestion:
    """What the editor gets: a ghost text under an id its feedback refers to."""

    id: str
    text: str
    source: str
    latency_ms: float


@dataclass(frozen=True)
class _Last:
    """The last suggestion served for a document, with the request it answered."""

    shown: Shown
    request: CompletionRequest


class Session:
    def __init__(self, overrides: dict[str, Any], load: Loader = load_backend) -> None:
        self.overrides = overrides
        self._load = load
        self.cfg: Config = load_config(None, overrides)
        self.root: Path | None = None
        self.model_dir: Path | None = None
        self.completer: Completer | None = None
        self.error: str | None = None
        self.warnings: list[str] = []
        self.eval_summary: dict[str, Any] | None = None
        self.loaded = asyncio.Event()
        self.model_thread = ModelThread()
        self.last: dict[str, _Last] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._windows: dict[str, int] = {}
        """The line each document's last prompt started at (`context.steady_start`), so the next one starts there."""
        self.feedback = Feedback(Telemetry(None))
        self.on_status: StatusCallback = lambda state, message: None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def server_cfg(self) -> ServerConfig:
        return self.cfg.server

    @property
    def jobs(self) -> list[Job]:
        """Model work queued or under way."""
        return self.model_thread.jobs

    @property
    def closed(self) -> bool:
        return self.model_thread.closed

    def configure(self, root: Path | None, options: Any = None) -> None:
        """Resolve config, model dir and telemetry for the workspace `root` (at initialize); `options` is the
        client's `initializationOptions` (`startup.resolve_settings`)."""
        self.root = root
        settings = resolve_settings(root, self.overrides, options, self.cfg)
        self.cfg, self.model_dir, self.feedback.telemetry = settings.cfg, settings.model_dir, settings.telemetry
        self.warnings.extend(settings.warnings)
        self.error = settings.error

    @property
    def model_name(self) -> str:
        if self.completer is not None:
            return self.completer.backend.name
        return str(self.model_dir or self.cfg.server.base or "no model")

    async def load(self, report: Callable[[str], None]) -> None:
        """Load the model on the model thread; on failure keep serving (empty results) with `self.error` set."""
        self._loop = asyncio.get_running_loop()
        try:
            if self.error:
                raise UserError(self.error)
            self.completer = await load_completer(self._load, self.cfg.server, self.model_dir, self.model_thread,
                                                  report)
            self.eval_summary = read_eval_summary(self.model_dir)
        except UserError as e:
            self.error = str(e)
        except Exception as e:  # a model that fails to load must not take the server down
            log.exception("model load failed")
            self.error = f"model failed to load: {type(e).__name__}: {e}"
        finally:
            self.loaded.set()

    async def complete(self, uri: str, req: CompletionRequest) -> Suggestion | None:
        """The suggestion for `req` in document `uri`, or None (no model, nothing to suggest, or superseded)."""
        arrived = time.monotonic()
        await self.loaded.wait()
        completer = self.completer
        if completer is None or self.closed:
            return None
        last = self.last.get(uri)
        if last is not None and self.server_cfg.typed_through:
            rest = typed_through(last.shown, req.text, req.offset)
            if rest is not None:
                self.model_thread.cancel_stale(uri, req, keep_prefetch=True)
                self.last[uri] = _Last(Shown(last.shown.id, req.text, req.offset, rest), req)
                return self._served(uri, last.shown.id, rest, "typed-through", arrived, completer, req)
        self.model_thread.cancel_stale(uri, req)
        deadline = arrived + self.server_cfg.time_budget_ms / 1000
        job = self.model_thread.add(uri, req)
        completion = await self.model_thread.run(job, functools.partial(self._work, job, req, deadline))
        if completion is None or not completion.text:
            if completion is not None:
                self.last.pop(uri, None)  # the document moved on: nothing is shown there now
            return None
        item_id = uuid.uuid4().hex
        last = self.last[uri] = _Last(Shown(item_id, req.text, req.offset, completion.text), req)
        served = self._served(uri, item_id, completion.text, completion.source, arrived, completer, req,
                              completion.context.fim.language)
        self._prefetch_after(uri, last)
        return served

    def _work(self, job: Job, req: CompletionRequest, deadline: float | None) -> Completion | None:
        """On the model thread: the cached answer, or a model call. None when cancelled before it started."""
        completer = self.completer
        if completer is None or job.token.cancelled:
            return None
        rate, share = completer.backend.prompt_rate, self.server_cfg.cold_prompt_share
        fresh = int(rate * self.server_cfg.time_budget_ms / 1000 * share) if rate and share else None
        prepared = completer.prepare(dataclasses.replace(req, window_start=self._windows.get(job.uri),
                                                         fresh_tokens=fresh))
        self._windows[job.uri] = prepared.context.window_start
        cached = completer.from_cache(prepared)
        if cached is not None:
            return None if job.prefetch else cached
        if job.token.cancelled:
            return None
        self._status("generating")
        try:
            completion = completer.generate(prepared, job.token, deadline, prefetch=job.prefetch)
        finally:
            self._status("ready")
        self.feedback.generated(completion, completer.backend, job.prefetch)
        return None if completion.generation.finish == "cancelled" else completion

    def _status(self, state: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.on_status, state, "")

    def _served(self, uri: str, item_id: str, text: str, source: str, arrived: float, completer: Completer,
                req: CompletionRequest, language: str = "") -> Suggestion:
        latency_ms = round((time.monotonic() - arrived) * 1000, 2)
        self.feedback.served(item_id, Item(uri, language, completer.backend.name, text), source, latency_ms,
                             req.language_id)
        return Suggestion(item_id, text, source, latency_ms)

    def _prefetch_after(self, uri: str, last: _Last) -> None:
        """Compute, in the background, the suggestion for the document as it will be once `last` is accepted."""
        if self.server_cfg.prefetch and self.completer is not None and not self.closed:
            prefetch(self.model_thread, uri, last.shown, last.request, self._work)

    def shown(self, item_id: str) -> None:
        """The editor displayed suggestion `item_id` (textDocument/didShowCompletion)."""
        self.feedback.shown(item_id)

    def partially_accepted(self, item_id: str, utf16_units: int) -> None:
        """The user accepted the beginning of suggestion `item_id`, `utf16_units` long (as LSP counts)."""
        self.feedback.partially_accepted(item_id, utf16_units)

    def accepted(self, item_id: str) -> None:
        """The user accepted all of suggestion `item_id`: record it; the next one is (being) computed already."""
        item = self.feedback.accepted(item_id)
        last = self.last.get(item.uri) if item is not None else None
        if item is None or last is None or last.shown.id != item_id:
            return
        del self.last[item.uri]
        self._prefetch_after(item.uri, last)  # a no-op unless the serve-time prefetch was cancelled

    def touch(self, uri: str) -> None:
        """Document `uri` was opened or edited: it moves to the front of the snippet sources."""
        self._recent[uri] = None
        self._recent.move_to_end(uri, last=False)

    def recent(self) -> list[str]:
        """Open documents, most recently used first."""
        return list(self._recent)

    def forget(self, uri: str) -> None:
        """The document was closed: drop what was kept for it and stop its work."""
        self.last.pop(uri, None)
        self._recent.pop(uri, None)
        self._windows.pop(uri, None)
        self.model_thread.cancel(uri)

    def close(self) -> None:
        """Stop all model work and flush telemetry (shutdown, exit, or the editor is gone)."""
        self.model_thread.close()
        self.feedback.close()
