"""The server's state between requests: the model (loaded once, off the event loop) and requests in flight.

Blocking work (loading, generation) runs in worker threads; the event loop only awaits it. A newer
request for a document cancels the older one between two tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from assistant.config import Config, load_config
from assistant.errors import UserError
from assistant.modeldir import default_model_dir
from server.backends import load_backend
from server.backends.base import CancelToken
from server.context import CompletionRequest
from server.pipeline import Completer, Completion

log = logging.getLogger("assistant.server")


class Session:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        self.cfg: Config = load_config(None, overrides)
        self.root: Path | None = None
        self.model_dir: Path | None = None
        self.completer: Completer | None = None
        self.error: str | None = None
        self.loaded = asyncio.Event()
        self.inflight: dict[str, CancelToken] = {}
        # One worker for the model (it generates one completion at a time), one for loading.
        self.model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def configure(self, root: Path | None) -> None:
        """Resolve config and model dir for the workspace `root` (called at initialize)."""
        self.root = root
        try:
            self.cfg = load_config(root, self.overrides)
        except UserError as e:
            self.error = str(e)
        server = self.cfg.server
        if server.model_dir:
            self.model_dir = Path(server.model_dir).expanduser()
        elif root is not None:
            self.model_dir = default_model_dir(root)

    @property
    def model_name(self) -> str:
        if self.completer is not None:
            return self.completer.backend.name
        return str(self.model_dir or self.cfg.server.base or "no model")

    async def load(self, report: Callable[[str], None]) -> None:
        """Load the model in a worker thread; on failure keep serving (empty results) with `self.error` set."""
        try:
            if self.error:
                raise UserError(self.error)
            report(f"loading {self.model_dir or self.cfg.server.base}")
            started = time.monotonic()
            loop = asyncio.get_running_loop()
            backend = await loop.run_in_executor(self.model_pool, load_backend, self.cfg.server, self.model_dir)
            self.completer = Completer(backend, self.cfg.server)
            log.info("model %s loaded in %.1f s", backend.name, time.monotonic() - started)
        except UserError as e:
            self.error = str(e)
        except Exception as e:  # a model that fails to load must not take the server down
            log.exception("model load failed")
            self.error = f"model failed to load: {type(e).__name__}: {e}"
        finally:
            self.loaded.set()

    async def complete(self, key: str, req: CompletionRequest) -> Completion | None:
        """The completion for `req`, or None when there is no model. `key` (the document) scopes cancellation."""
        await self.loaded.wait()
        if self.completer is None:
            return None
        previous = self.inflight.get(key)
        if previous is not None:
            previous.cancel()  # the user typed on: the older request's answer is stale
        token = CancelToken()
        self.inflight[key] = token
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.model_pool, self.completer.complete, req, token)
        except asyncio.CancelledError:
            token.cancel()
            raise
        finally:
            if self.inflight.get(key) is token:
                del self.inflight[key]

    def close(self) -> None:
        for token in self.inflight.values():
            token.cancel()
        self.model_pool.shutdown(wait=False, cancel_futures=True)
