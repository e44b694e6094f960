"""Escapes from the sandbox, each run as the caller (root here, as in CI containers) and as an unprivileged
user (`nobody`, through setpriv), with the in-process guard off: the OS layers must hold alone.

Every target the program attacks is left open to it by ordinary permissions (world-writable dirs,
world-readable files), so that only the sandbox stands in the way.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trainer.evaluation.sandbox import Limits, run

ROOT = Path(__file__).resolve().parents[3]
LIMITS = Limits(wall_seconds=5, cpu_seconds=4, memory_bytes=512 << 20, processes=16, python_guard=False)
# The child, run as `nobody` by a Python every user can execute: one sandbox run, its outcome as JSON.
CHILD = ("import json, sys; sys.path.insert(0, {root!r}); from trainer.evaluation.sandbox import Limits, run; "
         "a = json.load(sys.stdin); o = run(a['program'], Limits(**a['limits'])); "
         "print(json.dumps({{'status': o.status, 'output': o.output, 'seconds': o.seconds}}))")
SYSTEM_PYTHON = "/usr/bin/python3"
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib64", "lib32", "etc", "dev", "proc", "tmp"}

Runner = Callable[[str], dict]


def _as_caller(program: str) -> dict:
    out = run(program, LIMITS)
    return {"status": out.status, "output": out.output, "seconds": out.seconds}


@pytest.fixture(scope="module")
def readable_copy() -> Iterator[Path]:
    """The sandbox module and what it imports, copied where `nobody` can read them: a checkout may sit in a directory
    only its owner can enter (`mktemp -d` makes one)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-as-nobody-") as tmp:
        copy = Path(tmp)
        for rel in ("assistant/__init__.py", "assistant/errors.py", "trainer/__init__.py",
                    "trainer/evaluation/__init__.py", "trainer/evaluation/sandbox.py"):
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / rel, copy / rel)
        for path in (copy, *copy.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield copy


def _as_nobody(root: Path, program: str) -> dict:
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, "-I", "-c",
                           CHILD.format(root=str(root))], input=json.dumps({"program": program, "limits": {
                               "wall_seconds": LIMITS.wall_seconds, "cpu_seconds": LIMITS.cpu_seconds,
                               "memory_bytes": LIMITS.memory_bytes, "processes": LIMITS.processes,
                               "python_guard": False}}), capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _nobody_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "not root, so no other user to become (the caller case is the unprivileged one here)"
    if not shutil.which("setpriv") or not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"needs setpriv and {SYSTEM_PYTHON} to run as nobody"
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-Ur", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this kernel gives nobody no user namespaces ({probe.stderr.strip()})"
    return None


@pytest.fixture(params=["caller", "nobody"])
def sandboxed(request: pytest.FixtureRequest) -> Runner:
    if request.param == "nobody":
        reason = _nobody_unavailable()
        if reason:
            pytest.skip(reason)
        return functools.partial(_as_nobody, request.getfixturevalue("readable_copy"))
    return _as_caller


@pytest.fixture
def exposed() -> Iterator[Path]:
    """A world-writable dir outside the sandbox, reachable by every user."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-target-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_os_open_cannot_write_outside(sandboxed: Runner, exposed: Path) -> None:
    victim = exposed / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o666)
    program = ("import os\n"
               f"fd = os.open({str(victim)!r}, os.O_WRONLY | os.O_TRUNC)\nos.write(fd, b'gone')\n"
               f"os.open({str(exposed / 'new.txt')!r}, os.O_WRONLY | os.O_CREAT)\n")
    out = sandboxed(program)
    assert out["status"] == "failed"
    assert victim.read_text() == "precious" and not (exposed / "new.txt").exists()


def test_the_filesystem_outside_is_read_only(sandboxed: Runner) -> None:
    program = ("import os\nfor path in ('/usr/sandbox-probe', '/etc/sandbox-probe', '/sandbox-probe'):\n"
               "    try:\n        open(path, 'w')\n    except OSError as e:\n        print(path, e.errno)\n"
               "    else:\n        print(path, 'written')\n")
    out = sandboxed(program)
    assert out["status"] == "passed" and "written" not in out["output"], out["output"]
    assert not any(Path(p).exists() for p in ("/usr/sandbox-probe", "/etc/sandbox-probe", "/sandbox-probe"))


def test_a_setsid_fork_exec_child_dies_with_the_run(sandboxed: Runner, exposed: Path) -> None:
    marker = f"sandbox-escapee-{uuid.uuid4().hex}"
    target = exposed / "escaped.txt"
    # _posixsubprocess.fork_exec has no audit event; setsid takes the child out of the process group.
    program = ("import _posixsubprocess, os, sys\n"
               f"code = {_late_write(target, marker)!r}\n"
               "r, w = os.pipe()\n"
               "pid = _posixsubprocess.fork_exec([sys.executable, '-c', code], [os.fsencode(sys.executable)], True,"
               " (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1, None, False)\n"
               "os.close(w)\nassert os.read(r, 100) == b''\nprint('spawned', pid)\n")
    out = sandboxed(program)
    assert out["status"] == "passed" and "spawned" in out["output"], out["output"]
    time.sleep(3)
    assert _processes_with(marker) == [] and not target.exists()


def test_a_double_forked_daemon_dies_with_the_run(sandboxed: Runner, exposed: Path) -> None:
    marker = f"sandbox-daemon-{uuid.uuid4().hex}"
    target = exposed / "daemon.txt"
    program = ("import os, sys, time\n"
               "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
               f"        os.execv(sys.executable, [sys.executable, '-c', {_late_write(target, marker)!r}])\n"
               "    os._exit(0)\ntime.sleep(0.3)\nprint('daemonized')\n")
    out = sandboxed(program)
    assert out["status"] == "passed" and "daemonized" in out["output"], out["output"]
    time.sleep(3)
    assert _processes_with(marker) == [] and not target.exists()


def test_no_network_even_to_a_local_listener(sandboxed: Runner) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(LIMITS.wall_seconds + 3)
    port = server.getsockname()[1]
    got: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            got.append(conn.recv(100))
        except OSError:
            pass

    listener = threading.Thread(target=accept)
    listener.start()
    out = sandboxed(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), 2)\ns.sendall(b'leak')\n")
    server.close()
    listener.join()
    assert out["status"] == "failed" and got == []
    assert "Network is unreachable" in out["output"] or "Connection refused" in out["output"], out["output"]


def test_the_home_and_the_hosts_files_are_out_of_sight(sandboxed: Runner, exposed: Path) -> None:
    canaries = [exposed / "canary.txt"]
    dropped = Path.home() / f"sandbox-dropped-{uuid.uuid4().hex}"
    if os.geteuid() == 0:  # the real home of the user running the tool
        canaries.append(Path.home() / f".sandbox-canary-{uuid.uuid4().hex}")
    try:
        for canary in canaries:
            canary.write_text("secret")
            canary.chmod(0o644)
        reads = "".join(f"try:\n    print(open({str(c)!r}).read())\nexcept OSError as e:\n    print('no', e.errno)\n"
                        for c in canaries)
        writes = f"try:\n    open({str(dropped)!r}, 'w')\nexcept OSError as e:\n    print('no', e.errno)\n"
        out = sandboxed(reads + writes + "import os\nprint(sorted(os.listdir('/')))\n")
        assert out["status"] == "passed", out["output"]
        assert "secret" not in out["output"] and out["output"].count("no ") == len(canaries) + 1
        assert not dropped.exists()
        visible = set(json.loads(out["output"].strip().splitlines()[-1].replace("'", '"')))
        assert visible <= SYSTEM_DIRS | {Path(os.path.realpath(sys.base_prefix)).parts[1]}, visible
    finally:
        for path in (*canaries, dropped):
            path.unlink(missing_ok=True)


def test_only_the_sandboxs_processes_are_visible(sandboxed: Runner) -> None:
    out = sandboxed("import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))\n")
    assert out["status"] == "passed" and int(out["output"].strip()) <= 3, out["output"]


def test_a_fork_bomb_is_bounded_and_reaped(sandboxed: Runner) -> None:
    program = ("import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n"
               "        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\n"
               "print('forked', n)\n")
    started = time.monotonic()
    out = sandboxed(program)
    assert out["status"] == "passed", out["output"]
    assert int(out["output"].split()[-1]) < LIMITS.processes
    assert time.monotonic() - started < LIMITS.wall_seconds  # the sleeping children did not hold the run
    bomb = sandboxed("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert bomb["status"] != "passed" and bomb["seconds"] < LIMITS.wall_seconds + 3


def _late_write(target: Path, marker: str) -> str:
    """Code that writes `target` two seconds later, after run() has returned; `marker` names its process."""
    return f"import time; time.sleep(2); open({str(target)!r}, 'w').write('out')  # {marker}"


def _processes_with(marker: str) -> list[int]:
    """Processes anywhere on the host (every PID namespace is visible from here) whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found
