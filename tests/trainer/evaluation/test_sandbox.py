"""The sandbox scores right programs as passing, wrong ones as failing, and contains hostile ones.

Every attack runs twice: with the in-process guard, and with the OS layers alone (limits, network
namespace, unprivileged user), so that each layer is shown to hold by itself.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from trainer.evaluation.sandbox import Limits, network_isolation_available, run

FAST = Limits(wall_seconds=3, cpu_seconds=2, memory_bytes=512 << 20, processes=16)
LAYERS = [pytest.param(True, id="guard+os"), pytest.param(False, id="os-only")]


def limits(guard: bool) -> Limits:
    return Limits(FAST.wall_seconds, FAST.cpu_seconds, FAST.memory_bytes, FAST.file_bytes, FAST.processes, guard)


def test_a_right_program_passes_and_a_wrong_one_fails() -> None:
    assert run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\n", FAST).passed
    wrong = run("def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n", FAST)
    assert wrong.status == "failed" and "AssertionError" in wrong.output


@pytest.mark.parametrize("guard", LAYERS)
def test_infinite_loop_is_stopped(guard: bool) -> None:
    out = run("while True:\n    pass\n", limits(guard))
    assert out.status in ("timeout", "killed") and out.seconds < FAST.wall_seconds + 3


@pytest.mark.parametrize("guard", LAYERS)
def test_fork_bomb_is_contained(guard: bool) -> None:
    out = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", limits(guard))
    assert not out.passed and out.seconds < FAST.wall_seconds + 3
    # Nothing it started outlives it.
    if os.geteuid() == 0:
        leftover = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == 65534 and _is_python(p)]
        assert leftover == []


@pytest.mark.parametrize("guard", LAYERS)
def test_huge_allocation_fails_inside(guard: bool) -> None:
    out = run("x = bytearray(8 * 2**30)\n", limits(guard))
    assert out.status in ("failed", "killed") and ("MemoryError" in out.output or out.status == "killed")


@pytest.mark.parametrize("guard", LAYERS)
def test_writing_outside_its_directory_is_refused(guard: bool, tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    program = (f"open({str(target)!r}, 'w').write('gone')\n"
               f"open({str(tmp_path / 'new.txt')!r}, 'w').write('x')\n")
    out = run(program, limits(guard))
    assert out.status == "failed"
    assert target.read_text() == "precious" and not (tmp_path / "new.txt").exists()


@pytest.mark.parametrize("guard", LAYERS)
def test_sockets_reach_nothing(guard: bool) -> None:
    if not guard and not network_isolation_available():
        pytest.skip("this OS refuses new network namespaces; the guard layer is tested")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(FAST.wall_seconds + 2)
    port = server.getsockname()[1]
    got: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            got.append(conn.recv(100))
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    out = run(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), 2)\ns.sendall(b'leak')\n",
              limits(guard))
    t.join()
    server.close()
    assert out.status == "failed" and got == []


def test_the_sandbox_dir_is_removed(tmp_path: Path) -> None:
    out = run("import os\nprint(os.getcwd())\nopen('scratch.txt', 'w').write('ok')\n", FAST)
    assert out.passed
    assert not Path(out.output.strip().splitlines()[0]).exists()


def _uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def _is_python(pid: str) -> bool:
    try:
        return b"run.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
