"""Model work: the one model thread, the jobs queued on it, and cancelling the ones a newer request makes stale.

Blocking work (loading, generation) runs on one worker thread, one job at a time and in order; the event loop
only awaits it. A job is listed from the moment it is queued, so that a newer request can cancel it between
two tokens, or before it starts:
- a newer request for a document cancels the older one (unless both are for the very same text and cursor:
  then the newer waits for the older one's answer in the result cache);
- any request that does not need a prefetch cancels it; one answered without the model keeps it (typing
  through the suggestion still leads to the same text).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from server.backends.base import CancelToken
from server.context import CompletionRequest

T = TypeVar("T")


@dataclass
class Job:
    """Model work under way or queued for a document."""

    uri: str
    token: CancelToken
    text: str
    offset: int
    prefetch: bool

    def is_for(self, req: CompletionRequest) -> bool:
        return self.offset == req.offset and (self.text is req.text or self.text == req.text)


class ModelThread:
    """The model's one worker thread, and the jobs queued on it or under way."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        # One worker for the model: it generates one completion at a time, in order.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.closed = False

    def add(self, uri: str, req: CompletionRequest, prefetch: bool = False) -> Job:
        """List a job for `req` in document `uri`, where other requests can see and cancel it."""
        job = Job(uri, CancelToken(), req.text, req.offset, prefetch)
        self.jobs.append(job)
        return job

    def has(self, uri: str, req: CompletionRequest) -> bool:
        """Whether a job for exactly `req` in document `uri` is queued or under way."""
        return any(job.uri == uri and job.is_for(req) for job in self.jobs)

    def cancel_stale(self, uri: str, req: CompletionRequest, keep_prefetch: bool = False) -> None:
        """A request makes older work for its document, and any prefetch it does not need, stale.
        A request answered without the model (`keep_prefetch`) leaves prefetches running."""
        for job in self.jobs:
            stale = (not keep_prefetch) if job.prefetch else job.uri == uri
            if stale and not job.is_for(req):
                job.token.cancel()

    def cancel(self, uri: str | None = None) -> None:
        """Stop the jobs for document `uri` (every job when None) between two tokens."""
        for job in self.jobs:
            if uri is None or job.uri == uri:
                job.token.cancel()

    async def call(self, work: Callable[[], T]) -> T:
        """`work()` on the model thread, awaited (model loading: not a job, nothing cancels it)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    async def run(self, job: Job, work: Callable[[], T]) -> T:
        """`work()` for `job` (listed with `add`) on the model thread, awaited; the job is unlisted once it ends."""
        try:
            return await self.call(work)
        except asyncio.CancelledError:
            job.token.cancel()  # $/cancelRequest: stop the model between two tokens
            raise
        finally:
            self.done(job)

    def start(self, job: Job, work: Callable[[], T]) -> asyncio.Future[T]:
        """`work()` for `job` (listed with `add`) queued on the model thread, not awaited; unlisted once it ends."""
        future = asyncio.get_running_loop().run_in_executor(self.pool, work)
        future.add_done_callback(lambda _: self.done(job))
        return future

    def done(self, job: Job) -> None:
        self.jobs = [j for j in self.jobs if j is not job]

    def close(self) -> None:
        """Stop all model work: cancel every job and drop the ones not started."""
        self.closed = True
        self.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
