"""`assistant mine` end to end: the stats table, reuse, the history options, and bad repositories.

Bad input gets one line on stderr and exit status 2 when nothing can be mined (through the real CLI); a
repository that can be mined in part (shallow, submodules, detached HEAD, a damaged object, a huge
binary) is mined, with a warning line for what was left out (in-process, with the console captured).
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

from helpers import GitRepo, run_cli
from rich.console import Console

from assistant.config import MineConfig
from trainer.mining.examples import Dataset
from trainer.mining.mine import mine

DAY = 86_400
T0 = 1_700_000_000


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def stats_of(repo: Path) -> dict:
    return json.loads((repo / ".assistant" / "data" / "meta.json").read_text())["stats"]


def mine_with_warnings(root: Path) -> tuple[Dataset, str]:
    out = io.StringIO()
    dataset = mine(root, MineConfig(), Console(file=out, width=300))
    return dataset, out.getvalue()


def history(root: Path, n: int = 6) -> GitRepo:
    repo = GitRepo(root)
    for i in range(n):
        repo.commit({f"pkg/m{i}.py": f"def f{i}(x):\n    return x * {i}\n"}, date=T0 + i * DAY)
    return repo


def test_stats_table_reuse_and_force(tmp_path: Path) -> None:
    repo = history(tmp_path / "r")
    proc = run_cli("mine", "--repo", str(repo.root), "--stats")
    assert proc.returncode == 0, proc.stderr
    for row in ("commits mined", "examples: train", "examples: held out", "est. tokens (chars/4)",
                "language: python (examples)", "commits/s"):
        assert row in proc.stdout, proc.stdout
    assert "dataset: mined" in proc.stderr and "commits/s" in proc.stderr
    assert (repo.root / ".assistant" / ".gitignore").read_text() == "*\n"
    again = run_cli("mine", "--repo", str(repo.root))
    assert again.returncode == 0 and "reusing" in again.stderr
    forced = run_cli("mine", "--repo", str(repo.root), "--force")
    assert forced.returncode == 0 and "reusing" not in forced.stderr


def test_history_options(tmp_path: Path) -> None:
    repo = history(tmp_path / "r")
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit({"pkg/topic.py": "TOPIC = 1\n"}, date=T0 + 10 * DAY)
    repo.git("checkout", "-q", "main")
    r = str(repo.root)
    # Topic's 7 commits, from day 1 to day 10 (6), the newest 5 of them.
    proc = run_cli("mine", "--repo", r, "--branch", "topic", "--first-parent", "--since", f"@{T0 + DAY}",
                   "--until", f"@{T0 + 10 * DAY}", "--max-commits", "5")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((repo.root / ".assistant" / "data" / "meta.json").read_text())
    assert (meta["ref"], meta["stats"]["commits"]) == ("topic", 5)
    assert meta["head"] == repo.git("rev-parse", "topic").strip()
    assert_one_line_error(run_cli("mine", "--repo", r, "--branch", "nope"), "'nope' is not a branch", "--branch")
    assert_one_line_error(run_cli("mine", "--repo", r, "--since", "banana"), "--since 'banana'")


def test_not_a_repository(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("mine", "--repo", str(tmp_path)), "not a git repository")
    assert not (tmp_path / ".assistant").exists()


def test_bare_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "bare.git")], check=True)
    assert_one_line_error(run_cli("mine", "--repo", str(tmp_path / "bare.git")), "bare repository", "git clone")


def test_empty_repository(tmp_path: Path) -> None:
    GitRepo(tmp_path / "r")
    assert_one_line_error(run_cli("mine", "--repo", str(tmp_path / "r")), "no commits yet")
    assert not (tmp_path / "r" / ".assistant").exists()


def test_nothing_to_learn(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"README.md": "# docs only\n", "logo.png": b"\x89PNG\x00\x00"})
    assert_one_line_error(run_cli("mine", "--repo", str(repo.root)), "nothing to learn from", "language 1",
                          "binary 1", "mine.languages")
    assert not (repo.root / ".assistant").exists()


def shallow_clone(source: GitRepo, dest: Path, depth: int) -> Path:
    subprocess.run(["git", "clone", "-q", f"--depth={depth}", f"file://{source.root}", str(dest)], check=True)
    return dest


def test_shallow_clone_with_one_commit_cannot_be_mined(tmp_path: Path) -> None:
    clone = shallow_clone(history(tmp_path / "src"), tmp_path / "clone", 1)
    assert_one_line_error(run_cli("mine", "--repo", str(clone)), "shallow clone", "git fetch --unshallow")


def test_shallow_clone_is_mined_without_its_cut_commits(tmp_path: Path) -> None:
    clone = shallow_clone(history(tmp_path / "src"), tmp_path / "clone", 3)
    dataset, warnings = mine_with_warnings(clone)
    assert "warning: " in warnings and "is a shallow clone" in warnings and "git fetch --unshallow" in warnings
    stats = dataset.meta["stats"]
    assert (stats["commits"], stats["skipped"]["shallow-boundary"]) == (2, 1)
    assert {e.path for e in dataset.train + dataset.heldout} >= {"pkg/m4.py", "pkg/m5.py"}


def test_submodules_are_left_out_with_a_warning(tmp_path: Path) -> None:
    sub = history(tmp_path / "sub", 1)
    repo = history(tmp_path / "r", 2)
    sub_head = sub.git("rev-parse", "HEAD").strip()
    repo.write(".gitmodules", f'[submodule "vendor/sub"]\n\tpath = vendor/sub\n\turl = {sub.root}\n')
    repo.write("pkg/uses_sub.py", "import sub\n")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sub_head},vendor/sub")
    repo.git("add", ".gitmodules", "pkg/uses_sub.py")
    repo.git("commit", "-q", "-m", "add a submodule", date=T0 + 5 * DAY)
    dataset, warnings = mine_with_warnings(repo.root)
    assert "1 submodule(s) are not mined (vendor/sub)" in warnings
    assert dataset.meta["stats"]["skipped"]["submodule"] == 1
    assert "pkg/uses_sub.py" in {e.path for e in dataset.train + dataset.heldout}


def test_detached_head_is_mined_with_a_warning(tmp_path: Path) -> None:
    repo = history(tmp_path / "r", 4)
    repo.git("checkout", "-q", "--detach", "HEAD~1")
    dataset, warnings = mine_with_warnings(repo.root)
    assert "HEAD is detached at" in warnings and "--branch" in warnings
    assert dataset.meta["stats"]["commits"] == 3 and dataset.meta["head"] == repo.git("rev-parse", "HEAD").strip()


def corrupt(repo: GitRepo, rev: str) -> str:
    sha = repo.git("rev-parse", rev).strip()
    path = repo.root / ".git" / "objects" / sha[:2] / sha[2:]
    path.chmod(0o644)
    path.write_bytes(b"not an object")
    return sha


def test_a_corrupt_blob_skips_its_commit_with_a_warning(tmp_path: Path) -> None:
    repo = history(tmp_path / "r", 5)
    corrupt(repo, "HEAD~2:pkg/m2.py")
    dataset, warnings = mine_with_warnings(repo.root)
    bad = repo.git("rev-parse", "HEAD~2").strip()
    assert f"skipped commit {bad[:12]}" in warnings and "git fsck --full" in warnings
    stats = dataset.meta["stats"]
    assert (stats["commits"], stats["skipped"]["unreadable-commit"]) == (4, 1)
    assert "pkg/m2.py" not in {e.path for e in dataset.train + dataset.heldout}


def test_a_corrupt_commit_stops_mining_with_one_line(tmp_path: Path) -> None:
    repo = history(tmp_path / "r", 4)
    corrupt(repo, "HEAD~1")
    assert_one_line_error(run_cli("mine", "--repo", str(repo.root)), "git cannot walk the history", "git fsck")
    assert not (repo.root / ".assistant" / "data").exists()


def test_a_huge_binary_is_skipped_unread(tmp_path: Path) -> None:
    repo = history(tmp_path / "r", 2)
    repo.commit({"assets/model.bin": b"\x00" * 30_000_000, "pkg/loader.py": "def load():\n    return 1\n"})
    dataset, _ = mine_with_warnings(repo.root)
    assert dataset.meta["stats"]["skipped"]["binary"] == 1
    assert "pkg/loader.py" in {e.path for e in dataset.train + dataset.heldout}
