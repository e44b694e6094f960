"""pass@k on HumanEval-format problems: canonical solutions score 100%, wrong ones 0%, end to end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from helpers import run_cli

from assistant.errors import UserError
from trainer.evaluation import sandbox
from trainer.evaluation.humaneval import load_problems, score_completions

LIMITS = sandbox.Limits(wall_seconds=5, cpu_seconds=5)
PROBLEMS = [
    {"task_id": "T/0", "prompt": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
     "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n"},
    {"task_id": "T/1", "prompt": "def evens(xs):\n    \"\"\"The even numbers of xs, in order.\"\"\"\n",
     "canonical_solution": "    return [x for x in xs if x % 2 == 0]\n", "entry_point": "evens",
     "test": "def check(f):\n    assert f([1, 2, 3, 4]) == [2, 4]\n    assert f([]) == []\n"},
    {"task_id": "T/2", "prompt": "def slow(n):\n", "canonical_solution": "    return n\n", "entry_point": "slow",
     "test": "def check(f):\n    assert f(7) == 7\n"},
]


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(p) for p in PROBLEMS).encode()))
    return path


def test_canonical_solutions_pass_and_wrong_ones_fail(problems_file: Path) -> None:
    problems = load_problems(str(problems_file))
    right = score_completions(problems, [[p.canonical_solution] * 2 for p in problems], [1, 2], LIMITS)
    assert right["pass@1"] == 1.0 and right["pass@2"] == 1.0 and right["execution_pass_rate"] == 1.0
    wrong = ["    return None\n", "    while True:\n        pass\n", "    raise SystemExit(3)\n"]
    bad = score_completions(problems, [[w] for w in wrong], [1], LIMITS)
    assert bad["pass@1"] == 0.0 and bad["execution_pass_rate"] == 0.0
    assert [p["outcomes"][0] for p in bad["per_problem"]] == ["failed", "timeout", "failed"]


def test_mixed_samples_give_the_unbiased_estimate(problems_file: Path) -> None:
    problems = load_problems(str(problems_file))[:1]
    result = score_completions(problems, [["    return a + b\n", "    return a - b\n", "    return 0\n",
                                           "    return b + a\n"]], [1, 2], LIMITS)
    assert result["pass@1"] == pytest.approx(0.5)
    assert result["pass@2"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)


def test_the_packaged_problems_are_the_default_source() -> None:
    problems = load_problems("package")
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    sample = problems[:12]
    right = score_completions(sample, [[p.canonical_solution] for p in sample], [1], LIMITS)
    assert right["pass@1"] == 1.0
    wrong = score_completions(sample, [["    return None\n"] for _ in sample], [1], LIMITS)
    assert wrong["pass@1"] == 0.0


@pytest.mark.parametrize(("content", "needle"), [
    (b"{not json}\n", "line 1 is not JSON"),
    (b'{"task_id": "x", "prompt": "p"}\n', "lacks test, entry_point"),
    (b"", "holds no problems"),
])
def test_bad_problem_files_fail_clearly(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(UserError, match=needle):
        load_problems(str(path))


def test_eval_humaneval_end_to_end(tiny_workspace: Path, problems_file: Path) -> None:
    proc = run_cli("eval", "--repo", str(tiny_workspace), "--humaneval", str(problems_file), "--samples", "2",
                   "--k", "1,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tiny_workspace / ".assistant" / "model" / "eval" / "humaneval.json").read_text())
    assert report["problems"] == 3 and report["samples_per_problem"] == 2
    assert 0.0 <= report["pass@1"] <= report["pass@2"] <= 1.0
    manifest = json.loads((tiny_workspace / ".assistant" / "model" / "model.json").read_text())
    assert manifest["metrics"]["humaneval"]["problems"] == 3
