"""The content side of mining in a worker process, so that a long history uses a second core.

The process that talks to git parses the log, fetches file contents and collects results in order;
`cut_batch` (content filters, secret scan, middles, snippets: about two thirds of the work) runs in the
worker. Workers are forked, which starts them at once with everything imported; that is only safe while
this process runs no other thread, so workers are used only then, on Linux, and for histories long enough
to repay them. Otherwise each batch is cut here, by the same code. The examples are the same either way:
the caches a process builds change how fast it answers, never what.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

from assistant.config import MineConfig
from trainer.mining.cutter import Batch, Cutter, Tally
from trainer.mining.examples import Example
from trainer.mining.git import Blob

PARALLEL_MIN_COMMITS = 300
"""Below this many commits a second process is not worth its start and the copying of results."""

T = TypeVar("T")
_cutter: Cutter | None = None


def auto_workers(n_commits: int) -> int:
    """1 when a forked worker is safe and worth it (Linux, a spare core, no other thread, a long history)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    safe = sys.platform.startswith("linux") and threading.active_count() == 1
    return 1 if safe and cores >= 2 and n_commits >= PARALLEL_MIN_COMMITS else 0


def _start_worker(cfg: MineConfig) -> None:
    global _cutter
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process, which stops the worker
    _cutter = Cutter(cfg, Tally())


def cut_batch(batch: Batch, blobs: dict[str, Blob]) -> tuple[list[list[Example]], Tally]:
    """The examples of each commit of `batch`, and what was seen and skipped doing it."""
    assert _cutter is not None, "started by _start_worker, or by executor(0, ...) in this process"
    _cutter.tally = Tally()
    return _cutter.batch_examples(batch, blobs), _cutter.tally


class _InProcess(Executor):
    """Runs each task at once, here: the no-worker case through the same code path."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:
            future.set_exception(e)
        return future


def executor(workers: int, cfg: MineConfig) -> Executor:
    """Where `cut_batch` runs: `workers` forked processes, or this one when 0."""
    global _cutter
    if workers <= 0:
        _cutter = Cutter(cfg, Tally())
        return _InProcess()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(cfg,))
