"""Interrupted training continues with --resume: a real `assistant train` process is killed mid-run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ASSISTANT, GitRepo, pattern_module, run_cli

STEPS = 60


def start_training(repo: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*ASSISTANT, "train", "--repo", str(repo), "--base", "tiny", "--tiny-size", "nano",
                             "--max-steps", str(STEPS), "--batch-size", "4", "--no-eval"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(repo: Path, proc: subprocess.Popen[str], timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted((repo / ".assistant" / "runs").glob("*/checkpoint-*/trainer_state.json"))
        if found:
            return found[0].parent
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


@pytest.fixture
def repo(make_repo) -> Path:
    r: GitRepo = make_repo()
    for i in range(4):
        r.commit({f"h{i}.py": pattern_module(i)})
    r.write("assistant.toml", "[train]\nsave_every_steps = 5\nval_fraction = 0.0\n")
    return r.root


def finished_steps(repo: Path) -> int:
    return json.loads((repo / ".assistant" / "model" / "model.json").read_text())["training"]["steps"]


def test_killed_run_resumes_to_a_complete_model_dir(repo: Path) -> None:
    proc = start_training(repo)
    wait_for_checkpoint(repo, proc)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    assert not (repo / ".assistant" / "model").exists()  # never a half-written model dir
    resumed = run_cli("train", "--repo", str(repo), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr and "from checkpoint-" in resumed.stderr
    assert finished_steps(repo) == STEPS
    run = json.loads(next((repo / ".assistant" / "runs").glob("*/run.json")).read_text())
    assert run["status"] == "done"


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(repo: Path) -> None:
    proc = start_training(repo)
    first = wait_for_checkpoint(repo, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    assert "saved a checkpoint" in err and "--resume" in err and "Traceback" not in err
    steps = [int(p.name.split("-")[1]) for p in first.parent.glob("checkpoint-*")]
    assert max(steps) >= int(first.name.split("-")[1])
    assert not (repo / ".assistant" / "model").exists()
    resumed = run_cli("train", "--repo", str(repo), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert finished_steps(repo) == STEPS


def test_resume_without_an_interrupted_run_says_so(repo: Path) -> None:
    proc = run_cli("train", "--repo", str(repo), "--resume")
    assert proc.returncode == 2
    assert "no interrupted run" in proc.stderr and "without --resume" in proc.stderr
