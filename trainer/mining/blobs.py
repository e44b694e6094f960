"""File contents from a repository through one long-lived `git cat-file --batch`, pipelined.

    with BlobReader(repo.root) as blobs:
        blobs.request(shas, max_bytes)      # returns at once: git starts reading
        ...                                 # other work meanwhile
        contents = blobs.receive(len(shas)) # in request order

git runs ahead into an enlarged pipe (1 MiB where the system allows) while we do other work, and
`receive` reads the answers in this thread when they are needed: no reader thread, so no handing the GIL
back and forth at every write git makes. A blob over `max_bytes` is skipped over without being kept, and
an object git cannot produce (missing, or a damaged repository) comes back with `data` None.
`read`, `read_capped` and `read_many` are the same, waiting for their answers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

READ_CHUNK = 1 << 20
PIPE_BYTES = 1 << 20
MAX_UNANSWERED = 1000
"""Requests git may have unanswered: 41 bytes each, well within its input pipe (64 KiB at least), so a
request is never written while git, its output unread, has stopped reading them (a deadlock)."""


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
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        enlarge_pipe(self._fd)
        self._limits: deque[int | None] = deque()  # max_bytes of each request whose answer is not read yet
        self._ready: deque[Blob] = deque()  # answers read ahead to make room for more requests
        self._buf = bytearray()
        self._pos = 0
        self._eof = False

    def request(self, shas: list[str], max_bytes: int | None) -> None:
        """Ask for these objects; their answers come from `receive`, in this order."""
        if self._eof:  # git died on an earlier request: start afresh
            self.close()
            self._start()
        assert self._proc.stdin is not None
        for lo in range(0, len(shas), MAX_UNANSWERED):
            part = shas[lo:lo + MAX_UNANSWERED]
            while len(self._limits) + len(part) > MAX_UNANSWERED:
                self._ready.append(self._answer())
            self._limits.extend([max_bytes] * len(part))
            try:
                self._proc.stdin.write("".join(f"{sha}\n" for sha in part).encode())
                self._proc.stdin.flush()
            except BrokenPipeError:  # git is gone: the answers will say "unreadable"
                pass

    def receive(self, n: int) -> list[Blob]:
        return [self._ready.popleft() if self._ready else self._answer() for _ in range(n)]

    def read_many(self, shas: list[str], max_bytes: int | None) -> list[Blob]:
        self.request(shas, max_bytes)
        return self.receive(len(shas))

    def read_capped(self, sha: str, max_bytes: int | None) -> Blob:
        """The object, with its data only when it is at most `max_bytes` long (a huge blob is skipped over)."""
        return self.read_many([sha], max_bytes)[0]

    def read(self, sha: str) -> bytes | None:
        """The object's bytes, or None when it is missing or unreadable (e.g. a corrupt object)."""
        return self.read_capped(sha, None).data

    def _answer(self) -> Blob:
        limit = self._limits.popleft()
        header = self._line()
        parts = header.split() if header is not None else []
        if len(parts) != 3:  # "<sha> missing", or git has gone
            return Blob(0, None)
        size = int(parts[2])
        if limit is not None and size > limit:
            self._skip(size + 1)
            return Blob(size, None)
        data = self._take(size + 1)  # the contents and the newline after them
        return Blob(size, data[:-1]) if data is not None else Blob(0, None)

    def _more(self) -> bool:
        """Wait for more of git's output; False at its end."""
        if self._eof:
            return False
        chunk = os.read(self._fd, READ_CHUNK)  # what is there, up to a chunk: no waiting for a full one
        if not chunk:
            self._eof = True
            return False
        if self._pos > READ_CHUNK:  # drop what has been read, now and then rather than every time
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += chunk
        return True

    def _line(self) -> bytes | None:
        while (end := self._buf.find(b"\n", self._pos)) < 0:
            if not self._more():
                return None
        line = bytes(self._buf[self._pos:end])
        self._pos = end + 1
        return line

    def _take(self, n: int) -> bytes | None:
        while len(self._buf) - self._pos < n:
            if not self._more():
                return None
        data = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return data

    def _skip(self, n: int) -> None:
        while n > 0:
            if self._pos == len(self._buf) and not self._more():
                return
            step = min(n, len(self._buf) - self._pos)
            self._pos += step
            n -= step

    def close(self) -> None:
        if self._proc.stdin:
            with contextlib.suppress(BrokenPipeError):  # the process may already be gone
                self._proc.stdin.close()
        if self._proc.stdout:
            self._proc.stdout.close()  # git may still be writing answers nobody asked to receive
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def enlarge_pipe(fd: int) -> None:
    """Let a pipe hold PIPE_BYTES, so its writer can run that far ahead (Linux; elsewhere a no-op)."""
    with contextlib.suppress(AttributeError, OSError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
