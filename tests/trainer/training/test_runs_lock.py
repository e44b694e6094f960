"""One writer per repository, --resume never takes a live run, old runs are pruned: real processes hold the locks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ASSISTANT, GitRepo, pattern_module, run_cli

from assistant.config import Config, to_dict
from assistant.errors import UserError
from trainer.training.runs import Run, prune_runs


@pytest.fixture
def repo(make_repo) -> Path:
    r: GitRepo = make_repo()
    for i in range(3):
        r.commit({f"h{i}.py": pattern_module(i)})
    return r.root


class Holder:
    """Another process holding an flock on a file, as a live `assistant train` holds its run's lock."""

    def __init__(self, path: Path) -> None:
        code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(300)")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for h in started:
        h.stop()


def make_run(runs_dir: Path, run_id: str, status: str = "running", checkpoint: int | None = 5) -> Path:
    """A run dir as training leaves it: run.json and, once one was saved, a checkpoint."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": status, "config": to_dict(Config()), "seconds": 1.0}))
    if checkpoint is not None:
        (run_dir / f"checkpoint-{checkpoint}").mkdir()
        (run_dir / f"checkpoint-{checkpoint}" / "trainer_state.json").write_text("{}")
    return run_dir


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


def test_a_second_command_on_a_repository_in_use_fails_at_once_saying_who_holds_it(repo: Path) -> None:
    first = subprocess.Popen([*ASSISTANT, "train", "--repo", str(repo), "--base", "tiny", "--tiny-size", "nano",
                              "--max-steps", "100000", "--no-eval"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((repo / ".assistant" / "runs").glob("*/run.json")):  # it is mining or training now
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the first train never started its run"
            time.sleep(0.1)
        for second in (run_cli("mine", "--repo", str(repo), "--force"),
                       run_cli("train", "--repo", str(repo), "--base", "tiny", "--tiny-size", "nano",
                               "--max-steps", "1", "--no-eval")):
            line = error_line(second)
            assert "is busy" in line and "`assistant train`" in line and f"pid {first.pid}" in line, line
            assert "wait for it to finish" in line, line
        assert len(list((repo / ".assistant" / "runs").iterdir())) == 1  # the second train made no run
    finally:
        first.kill()  # SIGKILL: the lock file stays, with the dead holder's record in it
        first.wait()
    assert (repo / ".assistant" / "lock").is_file()
    after = run_cli("mine", "--repo", str(repo))
    assert after.returncode == 0, after.stderr[-2000:]  # a dead holder's lock never blocks


def test_resume_skips_a_run_whose_process_is_alive(tmp_path: Path, holders: list[Holder]) -> None:
    runs_dir = tmp_path / "runs"
    interrupted = make_run(runs_dir, "20260101-100000-aaaa")
    make_run(runs_dir, "20260101-110000-bbbb", status="done")
    live = make_run(runs_dir, "20260101-120000-cccc")  # newest, but still training in another process
    holders.append(Holder(live / "lock"))

    run = Run.resume(runs_dir)
    assert run.dir == interrupted
    run.release()


def test_resume_with_only_live_runs_says_so(tmp_path: Path, holders: list[Holder]) -> None:
    runs_dir = tmp_path / "runs"
    live = make_run(runs_dir, "20260101-120000-cccc")
    holders.append(Holder(live / "lock"))
    with pytest.raises(UserError, match=r"no interrupted run .*20260101-120000-cccc still training"):
        Run.resume(runs_dir)


def test_a_resumed_run_is_locked_against_a_second_resume(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "20260101-100000-aaaa")
    first = Run.resume(runs_dir)
    with pytest.raises(UserError, match="still training"):
        Run.resume(runs_dir)
    first.release()
    assert Run.resume(runs_dir).dir == first.dir  # released: interrupted again, resumable again


def test_prune_keeps_the_newest_runs_and_never_a_live_one(tmp_path: Path, holders: list[Holder]) -> None:
    runs_dir = tmp_path / "runs"
    live = make_run(runs_dir, "20260101-090000-live")  # oldest, yet still training: kept
    holders.append(Holder(live / "lock"))
    old = [make_run(runs_dir, f"20260101-1{i}0000-old{i}", status="done") for i in range(3)]
    (runs_dir / "notes").mkdir()  # not a run (no run.json): not ours to delete

    assert prune_runs(runs_dir, keep=2) == [old[0].name]
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted([live.name, old[1].name, old[2].name, "notes"])


def test_train_prunes_old_runs_after_it_succeeds(repo: Path, holders: list[Holder]) -> None:
    runs_dir = repo / ".assistant" / "runs"
    older = [make_run(runs_dir, f"20200101-1{i}0000-old{i}", status="done") for i in range(2)]
    interrupted = make_run(runs_dir, "20200101-130000-intr")
    live = make_run(runs_dir, "20200101-090000-live")
    holders.append(Holder(live / "lock"))
    proc = run_cli("train", "--repo", str(repo), "--base", "tiny", "--tiny-size", "nano", "--max-steps", "2",
                   "--batch-size", "4", "--no-eval")  # train.keep_runs: 2 by default
    assert proc.returncode == 0, proc.stderr[-3000:]
    kept = {p.name for p in runs_dir.iterdir()}
    new = kept - {interrupted.name, live.name}  # the newest two (this run, the interrupted one) and the live one
    assert len(new) == 1 and len(kept) == 3, kept
    assert json.loads((runs_dir / new.pop() / "run.json").read_text())["status"] == "done"
    assert not any(p.exists() for p in older)
    assert not [p.name for p in (repo / ".assistant").iterdir() if p.name.startswith(".model.")]
