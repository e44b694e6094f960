"""Every path under `<repo>/.assistant/`, where the tool keeps what it makes for a repository: named here once.

    <repo>/.assistant/
        .gitignore    "*": nothing in it is ever committed
        lock          held (flock) by the one command writing here: mine, train, export (`repo_lock`)
        config.toml   the repository's own config (optional; `assistant.config`)
        model/        the model dir, the contract between trainer, server and export (`assistant.modeldir`)
        data/         the mined dataset (`trainer.mining.examples`)
        runs/         training runs: run.json, checkpoints, a lock while one trains (`trainer.training.runs`)
        telemetry/    local records of shown and accepted completions (`server.telemetry`)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from assistant.errors import UserError

ASSISTANT_DIR = ".assistant"


def assistant_dir(repo: Path) -> Path:
    return repo / ASSISTANT_DIR


def model_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "model"


def data_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "data"


def runs_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "runs"


def telemetry_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "telemetry"


def config_file(repo: Path) -> Path:
    return assistant_dir(repo) / "config.toml"


def data_beside(model_dir: Path) -> Path:
    """The dataset a model dir was trained from: `data/` beside it (`<repo>/.assistant/data` for the default)."""
    return model_dir.parent / "data"


def repo_of(model_dir: Path) -> Path | None:
    """The repository a model dir in its default place belongs to, or None for a model dir elsewhere."""
    return model_dir.parent.parent if model_dir.parent.name == ASSISTANT_DIR else None


def lock_file(repo: Path) -> Path:
    return assistant_dir(repo) / "lock"


def ensure_assistant_dir(repo: Path) -> Path:
    """`<repo>/.assistant/`, created with a .gitignore so nothing in it is ever committed."""
    d = assistant_dir(repo)
    d.mkdir(parents=True, exist_ok=True)
    ignore = d / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return d


_held: set[Path] = set()
"""Lock files this process holds: a command and the stage it calls may both take the lock."""


@contextlib.contextmanager
def repo_lock(repo: Path, command: str) -> Iterator[None]:
    """Hold the repository's lock while `command` ('train', 'mine', ...) writes under `.assistant/`.

    One writer per repository: a second command fails at once, saying who holds the lock. The lock is an
    flock on `.assistant/lock`, so the kernel drops it when its holder dies: a stale file never blocks.
    Reentrant within a process (the CLI command and the stage it runs both take it). A command that fails
    on a repository it found without `.assistant/` removes the dir again if it wrote nothing else there.
    """
    path = lock_file(repo).absolute()
    if path in _held:  # taken further out in this process, which releases it
        yield
        return
    fresh = not assistant_dir(repo).exists()
    fd = lock_current_file(repo)
    if fd is None:
        raise UserError(f"{repo} is busy: {describe_holder(path)} holds {path}; wait for it to finish, or stop it "
                        "and run this again")
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(holder_record(f"assistant {command}")).encode())
    _held.add(path)
    try:
        yield
    except BaseException:
        if fresh:
            remove_if_unused(repo)
        raise
    finally:
        _held.discard(path)
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor releases the flock


def lock_current_file(repo: Path) -> int | None:
    """`try_flock` on the lock file now in place: one locked just as its holder removed it (`remove_if_unused`)
    is no longer the repository's lock and does not count."""
    path = lock_file(repo)
    while True:
        ensure_assistant_dir(repo)
        fd = try_flock(path)
        if fd is None:
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_if_unused(repo: Path) -> None:
    """Remove `.assistant/` made by a command that failed before writing anything but the lock (called holding it)."""
    d = assistant_dir(repo)
    if set(os.listdir(d)) <= {".gitignore", "lock"}:
        with contextlib.suppress(OSError):
            os.unlink(d / "lock")
            os.unlink(d / ".gitignore")
            os.rmdir(d)
        if d.exists():  # something arrived meanwhile: it stays, and stays out of git
            ensure_assistant_dir(repo)


def holder_record(command: str) -> dict[str, object]:
    """Who is working here: written into a lock file (and a run's run.json) for the next one to read."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.now().isoformat(timespec="seconds")}


def try_flock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path` (created if absent), or None while another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise UserError(f"cannot open the lock file {path} ({e.strerror}); check that you may write there") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def describe_holder(path: Path) -> str:
    """'`assistant train` (pid 123 on host, since 2026-01-02 03:04:05)': who holds the lock file, as it says."""
    for _ in range(10):  # the holder writes its record just after taking the lock: give it a moment
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and {"pid", "host", "command", "since"} <= info.keys():
            return (f"`{info['command']}` (pid {info['pid']} on {info['host']}, since "
                    f"{str(info['since']).replace('T', ' ')})")
        time.sleep(0.05)
    return "another process"
