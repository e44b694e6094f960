"""Prefetch: the suggestion that follows accepting the one on screen, computed while the user reads it.

Serving a suggestion queues, on the model thread, the request the document will make once the suggestion is
accepted, ahead of that request; when it comes, it finds its answer in the result cache (source 'prefetch').
Nobody waits for a prefetch: a request that does not need it cancels it (`jobs.ModelThread.cancel_stale`),
and a failure is only logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import replace

from server.cache import Shown
from server.context import CompletionRequest
from server.jobs import Job, ModelThread

log = logging.getLogger("assistant.server")

Work = Callable[[Job, CompletionRequest, float | None], object]
"""What a job does on the model thread: (job, request, deadline) -> its completion."""


def after_accepting(shown: Shown, request: CompletionRequest) -> CompletionRequest:
    """`request` (which `shown` answered) for the document as it will be once `shown` is accepted."""
    return replace(request, text=shown.text[:shown.offset] + shown.completion + shown.text[shown.offset:],
                   offset=shown.offset + len(shown.completion))


def prefetch(model_thread: ModelThread, uri: str, shown: Shown, request: CompletionRequest, work: Work) -> None:
    """Start computing the suggestion for `uri` once `shown` is accepted, unless it is under way already."""
    after = after_accepting(shown, request)
    if model_thread.has(uri, after):
        return
    job = model_thread.add(uri, after, prefetch=True)  # listed at once: the next request can cancel it before it starts
    # Queued on the model thread now, ahead of the request an accept is followed by.
    future = model_thread.start(job, functools.partial(work, job, after, None))
    future.add_done_callback(functools.partial(_ended, model_thread))


def _ended(model_thread: ModelThread, future: asyncio.Future[object]) -> None:
    """A prefetch ended; nobody waits for it, so a failure is only logged."""
    error = None if future.cancelled() else future.exception()
    if error is not None and not model_thread.closed:  # closing stops the model thread under it: expected
        log.error("prefetch failed", exc_info=error)
