"""Publishing a dir (model, dataset, eval) with `staged_dir`: all or nothing, atomic, nothing left beside it."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import modeldir
from assistant.modeldir import staged_dir


def publish(target: Path, text: str) -> None:
    with staged_dir(target) as tmp:
        (tmp / "model.json").write_text(text)
        (tmp / "weights").mkdir()
        (tmp / "weights" / "model.safetensors").write_text(text * 3)


def siblings(target: Path) -> list[str]:
    """What lies beside `target` apart from it: staging and old dirs would show here."""
    return sorted(p.name for p in target.parent.iterdir() if p != target)


@pytest.fixture
def old_model(tmp_path: Path) -> Path:
    target = tmp_path / ".assistant" / "model"
    publish(target, "old")
    assert (target / "model.json").read_text() == "old"
    return target


@pytest.fixture
def live_pid() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_publish_replaces_the_dir_whole_and_leaves_nothing_beside_it(old_model: Path) -> None:
    publish(old_model, "new")
    assert (old_model / "model.json").read_text() == "new"
    assert (old_model / "weights" / "model.safetensors").read_text() == "new" * 3
    assert siblings(old_model) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2(RENAME_EXCHANGE) is Linux's")
def test_the_target_is_never_absent_while_it_is_swapped(old_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two renames (old away, new in) leave a moment with no model dir, which a server starting then would
    report as missing; the exchange leaves none."""
    gaps = []
    real_rename = os.rename

    def watched_rename(src: str | Path, dst: str | Path) -> None:
        real_rename(src, dst)
        if not old_model.exists():
            gaps.append((str(src), str(dst)))

    monkeypatch.setattr(os, "rename", watched_rename)
    publish(old_model, "new")
    assert gaps == []
    assert (old_model / "model.json").read_text() == "new"


def test_a_failed_second_rename_rolls_back_to_the_old_dir(old_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the exchange is unavailable, the fallback's failure between its two renames puts the old dir back."""
    monkeypatch.setattr(modeldir, "_renameat2", None, raising=False)  # as on a system without renameat2
    real_rename = os.rename

    def failing_rename(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == old_model and ".new-" in Path(src).name:
            raise OSError(errno.EIO, "injected failure", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="injected failure"):
        publish(old_model, "new")
    assert (old_model / "model.json").read_text() == "old"
    assert siblings(old_model) == []


def test_a_failed_exchange_keeps_the_old_dir(old_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_exchange(a: Path, b: Path) -> bool:
        raise OSError(errno.EIO, "injected failure", str(a))

    monkeypatch.setattr(modeldir, "exchange", failing_exchange, raising=False)
    with pytest.raises(OSError, match="injected failure"):
        publish(old_model, "new")
    assert (old_model / "model.json").read_text() == "old"
    assert siblings(old_model) == []


def test_a_failed_fsync_publishes_nothing(old_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new tree that may not be on disk is not published (a power cut would leave it empty)."""
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "injected failure")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="injected failure"):
        publish(old_model, "new")
    assert (old_model / "model.json").read_text() == "old"
    assert siblings(old_model) == []


def test_a_failure_while_writing_removes_the_staging_dir(old_model: Path) -> None:
    with pytest.raises(RuntimeError), staged_dir(old_model) as tmp:
        (tmp / "model.json").write_text("half")
        raise RuntimeError("the trainer crashed")
    assert (old_model / "model.json").read_text() == "old"
    assert siblings(old_model) == []


def test_leftovers_of_crashed_publishes_are_removed_and_a_live_one_kept(old_model: Path, live_pid: int) -> None:
    parent = old_model.parent
    for name in (f".model.new-{dead_pid()}.k3j4h5", ".model.new-abc123", ".model.old-x9y8z7"):
        (parent / name / "weights").mkdir(parents=True)  # a killed run's staging dir, an older version's
        (parent / name / "weights" / "w.bin").write_bytes(b"\0" * 64)
    (parent / ".model.old-x9y8z7" / "model").mkdir()
    live = parent / f".model.new-{live_pid}.q1w2e3"  # another process publishing right now
    live.mkdir()
    (parent / ".model.new-notes.txt").write_text("not a dir: not ours to remove")

    publish(old_model, "new")
    assert (old_model / "model.json").read_text() == "new"
    assert siblings(old_model) == sorted([".model.new-notes.txt", live.name])


def test_a_crash_between_the_fallbacks_renames_gets_the_old_dir_back(tmp_path: Path) -> None:
    """Killed after moving the old dir aside and before moving the new one in: the old dir is restored, so a
    publish that then fails still leaves a model in place."""
    target = tmp_path / "model"
    aside = tmp_path / ".model.old-a1b2c3"
    (aside / "model").mkdir(parents=True)
    (aside / "model" / "model.json").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(target):
        raise RuntimeError("this run fails too")
    assert (target / "model.json").read_text() == "old"
    assert siblings(target) == []


def test_exchange_trades_two_dirs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    if not modeldir.exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this system or filesystem")
    assert ((a / "f").read_text(), (b / "f").read_text()) == ("b", "a")
