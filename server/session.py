"""The server's state between requests: the model, the requests in flight, the suggestions shown, feedback.

Blocking work (loading, generation) runs on one model thread; the event loop only awaits it. Latency
comes from not calling the model when the answer is known, and from not waiting for stale work:
- a newer request for a document cancels the older one between two tokens (unless both are for the very
  same text and cursor: then the newer waits for the older one's answer in the result cache);
- a request that types through the shown suggestion gets its rest at once (`cache.typed_through`);
- serving a suggestion starts computing the one that follows accepting it (prefetch) while the user reads
  it, so the request after an accept finds it in the result cache; any request that does not need a
  prefetch cancels it (typing through the suggestion keeps it: it still leads to the same text);
- every request gets `server.time_budget_ms` from its arrival, queueing included.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant import workspace
from assistant.config import Config, ServerConfig, load_config
from assistant.errors import UserError
from assistant.modeldir import read_manifest
from server.backends import load_backend
from server.backends.base import Backend, CancelToken
from server.cache import Shown, typed_through
from server.context import CompletionRequest
from server.documents import chars_in_units
from server.pipeline import Completer, Completion
from server.telemetry import Item, ItemLog, Telemetry

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


@dataclass
class _Job:
    """Model work under way or queued for a document."""

    uri: str
    token: CancelToken
    text: str
    offset: int
    prefetch: bool

    def is_for(self, req: CompletionRequest) -> bool:
        return self.offset == req.offset and (self.text is req.text or self.text == req.text)


@dataclass(frozen=True)
class _Last:
    """The last suggestion served for a document, with the request it answered."""

    shown: Shown
    request: CompletionRequest


class Session:
    def __init__(self, overrides: dict[str, Any],
                 load: Callable[[ServerConfig, Path | None], Backend] = load_backend) -> None:
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
        self.jobs: list[_Job] = []
        self.last: dict[str, _Last] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.items = ItemLog()
        self.telemetry = Telemetry(None)
        self.on_status: StatusCallback = lambda state, message: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        # One worker for the model: it generates one completion at a time, in order.
        self.model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    @property
    def server_cfg(self) -> ServerConfig:
        return self.cfg.server

    def configure(self, root: Path | None, options: Any = None) -> None:
        """Resolve config, model dir and telemetry for the workspace `root` (at initialize).

        `options` is the client's `initializationOptions`: `{"server": {"time_budget_ms": 500, ...}}` overrides
        the [server] section. Bad options are reported (`warnings`) and ignored; bad config files set `error`.
        """
        self.root = root
        extra: dict[str, Any] = {}
        if isinstance(options, dict) and isinstance(options.get("server"), dict):
            extra = {f"server.{k}": v for k, v in options["server"].items()}
        try:
            self.cfg = load_config(root, {**self.overrides, **extra})
        except UserError as e:
            if extra:
                self.warnings.append(f"initializationOptions ignored: {e}")
            try:
                self.cfg = load_config(root, self.overrides)
            except UserError as e2:
                self.error = str(e2)
        server = self.cfg.server
        if server.model_dir:
            self.model_dir = Path(server.model_dir).expanduser()
        elif root is not None:
            self.model_dir = workspace.model_dir(root)
        if server.telemetry:
            directory = (Path(server.telemetry_dir).expanduser() if server.telemetry_dir
                         else workspace.telemetry_dir(root) if root is not None else None)
            self.telemetry = Telemetry(directory)

    @property
    def model_name(self) -> str:
        if self.completer is not None:
            return self.completer.backend.name
        return str(self.model_dir or self.cfg.server.base or "no model")

    async def load(self, report: Callable[[str], None]) -> None:
        """Load the model in a worker thread; on failure keep serving (empty results) with `self.error` set."""
        self._loop = asyncio.get_running_loop()
        try:
            if self.error:
                raise UserError(self.error)
            report(f"loading {self.model_dir or self.cfg.server.base}")
            started = time.monotonic()
            backend = await self._loop.run_in_executor(self.model_pool, self._load, self.cfg.server, self.model_dir)
            self.completer = Completer(backend, self.cfg.server)
            self.eval_summary = self._read_eval_summary()
            log.info("model %s loaded in %.1f s", backend.name, time.monotonic() - started)
        except UserError as e:
            self.error = str(e)
        except Exception as e:  # a model that fails to load must not take the server down
            log.exception("model load failed")
            self.error = f"model failed to load: {type(e).__name__}: {e}"
        finally:
            self.loaded.set()

    def _read_eval_summary(self) -> dict[str, Any] | None:
        if self.model_dir is None or not (self.model_dir / "model.json").is_file():
            return None
        try:
            return read_manifest(self.model_dir).metrics or None
        except UserError:
            return None

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
                self._cancel_stale(uri, req, keep_prefetch=True)
                self.last[uri] = _Last(Shown(last.shown.id, req.text, req.offset, rest), req)
                return self._served(uri, last.shown.id, rest, "typed-through", arrived, completer, req)
        self._cancel_stale(uri, req)
        deadline = arrived + self.server_cfg.time_budget_ms / 1000
        job = _Job(uri, CancelToken(), req.text, req.offset, False)
        self.jobs.append(job)
        completion = await self._run(job, req, deadline)
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

    def _cancel_stale(self, uri: str, req: CompletionRequest, keep_prefetch: bool = False) -> None:
        """A request makes older work for its document, and any prefetch it does not need, stale.
        A request answered without the model (`keep_prefetch`) leaves prefetches running."""
        for job in self.jobs:
            stale = (not keep_prefetch) if job.prefetch else job.uri == uri
            if stale and not job.is_for(req):
                job.token.cancel()

    async def _run(self, job: _Job, req: CompletionRequest, deadline: float | None) -> Completion | None:
        """Run `job` (already in `self.jobs`, where other requests can see and cancel it) on the model thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.model_pool, self._work, job, req, deadline)
        except asyncio.CancelledError:
            job.token.cancel()  # $/cancelRequest: stop the model between two tokens
            raise
        finally:
            self._done(job)

    def _done(self, job: _Job) -> None:
        self.jobs = [j for j in self.jobs if j is not job]

    def _work(self, job: _Job, req: CompletionRequest, deadline: float | None) -> Completion | None:
        """On the model thread: the cached answer, or a model call. None when cancelled before it started."""
        completer = self.completer
        if completer is None or job.token.cancelled:
            return None
        prepared = completer.prepare(req)
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
        gen, backend = completion.generation, completer.backend
        self.telemetry.record("generation", language=completion.context.fim.language, model=backend.name,
                              tokens=gen.tokens, seconds=round(gen.seconds, 4), finish=gen.finish,
                              prefetch=job.prefetch, reused_tokens=getattr(backend, "reused_tokens", None),
                              drafted_tokens=getattr(backend, "drafted_tokens", None),
                              accepted_draft_tokens=getattr(backend, "accepted_draft_tokens", None))
        return None if gen.finish == "cancelled" else completion

    def _status(self, state: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.on_status, state, "")

    def _served(self, uri: str, item_id: str, text: str, source: str, arrived: float, completer: Completer,
                req: CompletionRequest, language: str = "") -> Suggestion:
        latency_ms = round((time.monotonic() - arrived) * 1000, 2)
        item = self.items.get(item_id)
        language = language or (item.language if item else "") or req.language_id
        self.items.put(item_id, Item(uri, language, completer.backend.name, text))
        self.telemetry.record("served", id=item_id, language=language, model=completer.backend.name,
                              source=source, chars=len(text), latency_ms=latency_ms)
        return Suggestion(item_id, text, source, latency_ms)

    def shown(self, item_id: str) -> None:
        """The editor displayed suggestion `item_id` (textDocument/didShowCompletion)."""
        self._feedback("shown", item_id, None)

    def partially_accepted(self, item_id: str, utf16_units: int) -> None:
        """The user accepted the beginning of suggestion `item_id`, `utf16_units` long (as LSP counts)."""
        item = self.items.get(item_id)
        self._feedback("partial", item_id, chars_in_units(item.text, utf16_units) if item is not None else 0)

    def accepted(self, item_id: str) -> None:
        """The user accepted all of suggestion `item_id`: record it; the next one is (being) computed already."""
        item = self._feedback("accepted", item_id, None)
        last = self.last.get(item.uri) if item is not None else None
        if item is None or last is None or last.shown.id != item_id:
            return
        del self.last[item.uri]
        self._prefetch_after(item.uri, last)  # a no-op unless the serve-time prefetch was cancelled

    def _prefetch_after(self, uri: str, last: _Last) -> None:
        """Compute, in the background, the suggestion for the document as it will be once `last` is accepted."""
        if not self.server_cfg.prefetch or self.completer is None or self.closed:
            return
        s = last.shown
        after = replace(last.request, text=s.text[:s.offset] + s.completion + s.text[s.offset:],
                        offset=s.offset + len(s.completion))
        if any(job.uri == uri and job.is_for(after) for job in self.jobs):
            return
        job = _Job(uri, CancelToken(), after.text, after.offset, True)
        self.jobs.append(job)  # visible at once, so that the next request can cancel it before it starts
        # Queued on the model thread now, ahead of the request an accept is followed by, which then finds
        # its answer in the result cache.
        future = asyncio.get_running_loop().run_in_executor(self.model_pool, self._work, job, after, None)
        future.add_done_callback(lambda f: self._prefetched(job, f))

    def _prefetched(self, job: _Job, future: asyncio.Future[Completion | None]) -> None:
        """A prefetch ended; nobody waits for it, so a failure is only logged."""
        self._done(job)
        error = None if future.cancelled() else future.exception()
        if error is not None and not self.closed:  # closing stops the model thread under it: expected
            log.error("prefetch failed", exc_info=error)

    def _feedback(self, event: str, item_id: str, chars: int | None) -> Item | None:
        item = self.items.get(item_id)
        if item is None:
            log.info("%s for an unknown suggestion id %r: ignored", event, item_id)
            return None
        self.telemetry.record(event, id=item_id, language=item.language, model=item.model,
                              chars=len(item.text) if chars is None else chars)
        return item

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
        for job in self.jobs:
            if job.uri == uri:
                job.token.cancel()

    def close(self) -> None:
        """Stop all model work and flush telemetry (shutdown, exit, or the editor is gone)."""
        self.closed = True
        for job in self.jobs:
            job.token.cancel()
        self.model_pool.shutdown(wait=False, cancel_futures=True)
        self.telemetry.close()
