"""Where the OS cannot isolate generated code, nothing generated runs: one clear error naming
--unsafe-sandbox, and only that switch runs it anyway.

The unisolated machine is made for real: a child process in a user namespace whose limit on further user
namespaces is 0, so that every unshare(CLONE_NEWUSER) in it fails as on a kernel that forbids them.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ASSISTANT

ROOT = Path(__file__).resolve().parents[3]
# One sandbox run in the child: its status, or the UserError it raised.
CHILD = ("import sys; sys.path.insert(0, {root!r})\n"
         "from assistant.errors import UserError\nfrom trainer.evaluation.sandbox import Limits, run\n"
         "try:\n    print(run(sys.argv[1], Limits(wall_seconds=5), unsafe=sys.argv[2] == 'unsafe').status)\n"
         "except UserError as e:\n    print('UserError:', e)\n")


def without_user_namespaces(*command: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("unshare"):
        pytest.skip("needs util-linux unshare to make a machine without user namespaces")
    probe = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine already refuses user namespaces ({probe.stderr.strip()})")
    shell = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    return subprocess.run(["unshare", "-Ur", "sh", "-c", shell, "sh", *command], capture_output=True, text=True,
                          timeout=300)


def sandbox_child(program: str, mode: str) -> str:
    proc = without_user_namespaces(sys.executable, "-c", CHILD.format(root=str(ROOT)), program, mode)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_no_isolation_means_no_run() -> None:
    # Before: unshare's failure was ignored and the program ran, network and all.
    said = sandbox_child("open('/tmp/ran', 'w')\n", "isolated")
    assert said.startswith("UserError: cannot isolate generated code here") and "--unsafe-sandbox" in said
    assert "\n" not in said


def test_unsafe_runs_it_anyway_and_still_scores_it() -> None:
    assert sandbox_child("assert sum([1, 2]) == 3\n", "unsafe") == "passed"
    assert sandbox_child("assert sum([1, 2]) == 4\n", "unsafe") == "failed"


def test_eval_refuses_before_sampling_and_the_switch_lets_it_through(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl.gz"
    problems.write_bytes(gzip.compress(json.dumps({"task_id": "T/0", "prompt": "def f():\n", "entry_point": "f",
                                                   "test": "def check(f):\n    pass\n"}).encode()))
    args = ("eval", "--repo", str(tmp_path), "--humaneval", str(problems), "--samples", "1", "--k", "1",
            "--model-dir", str(tmp_path / "no-model"))
    refused = without_user_namespaces(*ASSISTANT, *args)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "cannot isolate generated code" in refused.stderr and "--unsafe-sandbox" in refused.stderr
    # With the switch the isolation check is passed, and the run goes on to look for the (absent) model.
    allowed = without_user_namespaces(*ASSISTANT, *args, "--unsafe-sandbox")
    assert allowed.returncode != 0 and "cannot isolate" not in allowed.stderr
    assert "without isolation" in allowed.stdout + allowed.stderr


def test_the_switch_is_only_for_humaneval(tmp_path: Path) -> None:
    proc = subprocess.run([*ASSISTANT, "eval", "--repo", str(tmp_path), "--unsafe-sandbox"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "--unsafe-sandbox applies to --humaneval only" in proc.stderr
