"""The sandbox scores right programs as passing, wrong ones as failing, and stops runaway ones.

Each runaway runs twice: with the in-process guard, and with the OS layers alone (namespaces, limits),
so that the OS is shown to hold by itself. Escapes, as root and as `nobody`: test_sandbox_escapes.py;
no isolation, no run: test_sandbox_refusal.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainer.evaluation.sandbox import Limits, run

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


def test_the_guard_refuses_os_open_writes_when_it_is_all_there_is(tmp_path: Path) -> None:
    # Defense in depth for --unsafe-sandbox: os.open's audit event carries mode None, which passed before.
    target = tmp_path / "new.txt"
    out = run(f"import os\nos.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)\n", FAST, unsafe=True)
    assert out.status == "failed" and "not allowed" in out.output and not target.exists()


def test_unsafe_mode_scores_like_the_sandbox() -> None:
    assert run("assert sorted([3, 1]) == [1, 3]\n", FAST, unsafe=True).passed
    assert run("assert sorted([3, 1]) == [3, 1]\n", FAST, unsafe=True).status == "failed"
    assert run("while True:\n    pass\n", FAST, unsafe=True).status == "timeout"


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
