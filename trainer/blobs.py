"""File contents from a repository through one long-lived `git cat-file --batch`, pipelined.

    with BlobReader(repo.root) as blobs:
        blobs.request(shas, max_bytes)      # returns at once: git starts reading
        ...                                 # other work meanwhile
        contents = blobs.receive(len(shas)) # in request order

A thread drains git's answers as they come, so git never waits for us and we wait for git only when we
need an answer it has not produced yet. A blob over `max_bytes` is skipped over without being kept, and an
object git cannot produce (missing, or a damaged repository) comes back with `data` None.
`read`, `read_capped` and `read_many` are the same, waiting for their answers.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

READ_CHUNK = 1 << 20
WAIT_CHECK_S = 1.0
"""How often a wait for an answer checks that git is still there to give it."""


class HasRoot(Protocol):
    root: Path


@dataclass(frozen=True)
class Blob:
    size: int
    data: bytes | None
    """None when the object is missing, unreadable or larger than asked for."""


class BlobReader:
    """Object contents through one `git cat-file --batch`; use as a context manager."""

    def __init__(self, repo: HasRoot | Path) -> None:
        self._root = repo if isinstance(repo, Path) else repo.root
        self._start()

    def _start(self) -> None:
        self._proc = subprocess.Popen(["git", "-C", str(self._root), "cat-file", "--batch"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._limits: deque[int | None] = deque()  # max_bytes of each request not answered yet
        self._answers: queue.SimpleQueue[Blob] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def request(self, shas: list[str], max_bytes: int | None) -> None:
        """Ask for these objects; their answers come from `receive`, in this order."""
        if not self._reader.is_alive():  # git died on an earlier request: start afresh
            self.close()
            self._start()
        self._limits.extend([max_bytes] * len(shas))
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write("".join(f"{sha}\n" for sha in shas).encode())
            self._proc.stdin.flush()
        except BrokenPipeError:  # the reader answers whatever is left with "unreadable"
            pass

    def receive(self, n: int) -> list[Blob]:
        return [self._next() for _ in range(n)]

    def _next(self) -> Blob:
        while True:
            try:
                return self._answers.get(timeout=WAIT_CHECK_S)
            except queue.Empty:
                # git died after the reader answered what it still expected: this answer will never come.
                if not self._reader.is_alive() and self._answers.empty():
                    self._limits.clear()
                    return Blob(0, None)

    def read_many(self, shas: list[str], max_bytes: int | None) -> list[Blob]:
        self.request(shas, max_bytes)
        return self.receive(len(shas))

    def read_capped(self, sha: str, max_bytes: int | None) -> Blob:
        """The object, with its data only when it is at most `max_bytes` long (a huge blob is skipped over)."""
        return self.read_many([sha], max_bytes)[0]

    def read(self, sha: str) -> bytes | None:
        """The object's bytes, or None when it is missing or unreadable (e.g. a corrupt object)."""
        return self.read_capped(sha, None).data

    def _drain(self) -> None:
        """The reader thread: one answer per request, until git closes its output."""
        out = self._proc.stdout
        assert out is not None
        while header := out.readline():
            limit = self._limits.popleft()
            parts = header.split()
            if len(parts) != 3:  # "<sha> missing" (or ambiguous)
                self._answers.put(Blob(0, None))
                continue
            size = int(parts[2])
            if limit is not None and size > limit:
                _skip(out, size + 1)
                self._answers.put(Blob(size, None))
            else:
                data = out.read(size)
                out.read(1)  # the newline after the contents
                self._answers.put(Blob(size, data))
        while self._limits:  # git is gone: nothing more will come for these
            self._limits.popleft()
            self._answers.put(Blob(0, None))

    def close(self) -> None:
        if self._proc.stdin:
            with contextlib.suppress(BrokenPipeError):  # the process may already be gone
                self._proc.stdin.close()
        self._proc.wait()
        self._reader.join()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _skip(stream: IO[bytes], n: int) -> None:
    while n > 0:
        chunk = stream.read(min(n, READ_CHUNK))
        if not chunk:
            return
        n -= len(chunk)
