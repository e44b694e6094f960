"""Running generated code in a sandbox, for execution-based evaluation (HumanEval pass@k).

Each program runs in its own process, in a private temporary directory that is removed afterwards,
with layered confinement:
- OS limits: wall-clock timeout (the whole process group is killed), CPU seconds, address space,
  file size, open files and process count (rlimits), no core dumps;
- a new network namespace where the OS allows it (no interface but a downed loopback: no network);
- when started as root, the program runs as the unprivileged user `nobody`, so the user's files are
  out of its reach and the process limit is enforced;
- inside Python, an audit hook refuses sockets, new processes and writes outside the sandbox dir.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import UserError

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 16
    python_guard: bool = True
    """The in-process audit hook; the OS layers apply either way (tests check each on its own)."""


@dataclass(frozen=True)
class Outcome:
    status: str
    """'passed' (exit 0), 'failed' (non-zero exit), 'timeout' (wall clock or CPU seconds) or 'killed' (by
    another signal, e.g. the memory limit)."""
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# Runs inside the sandbox before the program: refuses what a test program never needs.
GUARD = r'''
import os, sys
_root = os.path.realpath(os.getcwd())
_denied = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "os.fork", "os.forkpty",
           "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen", "os.kill", "os.killpg",
           "pty.spawn", "ctypes.dlopen", "os.setsid", "os.chroot"}
_writes = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
           "os.symlink", "os.link", "shutil.rmtree", "os.utime"}

def _inside(path):
    try:
        p = os.path.realpath(os.fsdecode(path))
    except Exception:
        return False
    return p == _root or p.startswith(_root + os.sep)

def _hook(event, args):
    if event in _denied:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and len(args) > 1 and args[1] is not None:
        mode = args[1] if isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
        if writing and isinstance(args[0], (str, bytes, os.PathLike)) and not _inside(args[0]):
            raise PermissionError("sandbox: writing outside the sandbox dir is not allowed")
    if event in _writes and args and not _inside(args[0]):
        raise PermissionError(f"sandbox: {event} outside the sandbox dir is not allowed")

sys.addaudithook(_hook)
'''

RUNNER = "import sys\nexec(compile(open('guard.py').read(), 'guard.py', 'exec'))\n" \
         "exec(compile(open('main.py').read(), 'main.py', 'exec'), {'__name__': '__main__'})\n"


def run(program: str, limits: Limits = Limits()) -> Outcome:
    """Run a Python program in the sandbox and report how it ended."""
    root = Path(tempfile.mkdtemp(prefix="assistant-sandbox-"))
    try:
        (root / "main.py").write_text(program, encoding="utf-8")
        (root / "guard.py").write_text(GUARD if limits.python_guard else "", encoding="utf-8")
        (root / "run.py").write_text(RUNNER, encoding="utf-8")
        as_nobody = os.geteuid() == 0
        if as_nobody:
            for p in (root, *root.iterdir()):
                os.chown(p, NOBODY, NOBODY)
        return _execute(root, limits, as_nobody)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _execute(root: Path, limits: Limits, as_nobody: bool) -> Outcome:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "TMPDIR": str(root), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
    started = time.monotonic()
    python = interpreter(as_nobody)
    proc = subprocess.Popen([python, "-I", "run.py"], cwd=root, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: _confine(limits, as_nobody))
    try:
        out, _ = proc.communicate(timeout=limits.wall_seconds)
        status = ("passed" if proc.returncode == 0 else "timeout" if proc.returncode == -signal.SIGXCPU
                  else "killed" if proc.returncode < 0 else "failed")  # SIGXCPU: out of CPU seconds
    except subprocess.TimeoutExpired:
        status = "timeout"
        out = b""
    finally:
        # Everything the program started shares its process group: take it all down.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)
    text = out.decode("utf-8", "replace")[-4000:]
    return Outcome(status, time.monotonic() - started, text)


def interpreter(as_nobody: bool) -> str:
    """This Python, or (running as `nobody`) the first Python every user may execute: the programs under
    test need only the standard library, and the tool's own interpreter may live in a private home."""
    if not as_nobody:
        return sys.executable
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        path = Path(os.path.realpath(candidate))
        if path.is_file() and _world_reachable(path):
            return str(path)
    raise UserError("no Python interpreter is executable by the unprivileged user 'nobody' (tried "
                    f"{sys.executable}, /usr/bin/python3); install python3 system-wide to run execution tests as root")


def _world_reachable(path: Path) -> bool:
    """Every directory above `path` is searchable and `path` itself executable by other users."""
    if not os.stat(path).st_mode & 0o001:
        return False
    return all(os.stat(parent).st_mode & 0o001 for parent in path.parents)


def _confine(limits: Limits, as_nobody: bool) -> None:
    """In the child, before exec: limits, no network, no privileges."""
    for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                       (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_NOFILE, 64),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, limits.processes)):
        # CPU: the soft limit sends SIGXCPU (read as a timeout); the hard one, a second later, SIGKILL.
        resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))
    _leave_network(as_nobody)
    if as_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _leave_network(privileged: bool) -> None:
    """A new, empty network namespace (root directly; other users through a user namespace if allowed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNET if privileged else CLONE_NEWUSER | CLONE_NEWNET
    libc.unshare(flags)  # where the OS refuses, the audit hook still refuses sockets


def network_isolation_available() -> bool:
    """Whether `_leave_network` can take effect here (reported in eval output, tested where true)."""
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9), 1)"],
                           preexec_fn=lambda: _leave_network(os.geteuid() == 0), capture_output=True, text=True)
    return "Network is unreachable" in probe.stderr or "Cannot assign" in probe.stderr
