"""Bad input: one clear line naming the problem and the fix, exit status 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

from helpers import GitRepo, run_cli


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_train_outside_a_git_repo(tmp_path: Path) -> None:
    proc = run_cli("train", "--repo", str(tmp_path), "--base", "tiny")
    assert_one_line_error(proc, "not a git repository", "git init")
    assert not (tmp_path / ".assistant").exists()


def test_train_on_a_repo_without_commits(tmp_path: Path) -> None:
    GitRepo(tmp_path / "r")
    proc = run_cli("train", "--repo", str(tmp_path / "r"), "--base", "tiny")
    assert_one_line_error(proc, "no commits yet")


def test_train_with_a_base_that_is_not_on_this_machine(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "def f():\n    return 1\n" * 20})
    proc = run_cli("train", "--repo", str(repo.root), "--base", "nobody/no-such-model-1b")
    assert_one_line_error(proc, "cannot load base model 'nobody/no-such-model-1b'", "--base")
    assert not (repo.root / ".assistant" / "model").exists()


def test_train_with_a_bad_config_value(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "x = 1\n", "assistant.toml": "[train]\nmethod = 'dora'\n"})
    proc = run_cli("train", "--repo", str(repo.root))
    assert_one_line_error(proc, "train.method = 'dora'", "one of auto, full, lora, qlora")


def test_complete_without_a_model(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "x = 1\n"})
    proc = run_cli("complete", str(repo.root / "a.py"), "--line", "1", "--col", "3")
    assert_one_line_error(proc, "no model to serve", "assistant train")


def test_complete_position_outside_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    proc = run_cli("complete", str(tmp_path / "a.py"), "--line", "9", "--col", "1")
    assert_one_line_error(proc, "--line 9 is outside the file")


def test_complete_with_a_corrupt_adapter(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "adapter").mkdir(parents=True)
    (model / "adapter" / "adapter_config.json").write_text("{broken")
    (model / "model.json").write_text('{"format_version": 1, "base": "x", "profile": "tiny", "kind": "adapter",'
                                      ' "adapter": "adapter"}')
    (tmp_path / "a.py").write_text("x = 1\n")
    proc = run_cli("complete", str(tmp_path / "a.py"), "--line", "1", "--col", "1", "--model-dir", str(model))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")


def test_a_bad_option_value_is_a_usage_error() -> None:
    proc = run_cli("train", "--max-steps", "abc")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Invalid value for '--max-steps'" in proc.stderr


def test_train_never_replaces_a_directory_it_did_not_make(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "def f():\n    return 1\n" * 20})
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    proc = run_cli("train", "--repo", str(repo.root), "--base", "tiny", "--tiny-size", "nano", "--max-steps", "1",
                   "--no-eval", "--model-dir", str(mine))
    assert_one_line_error(proc, "is not a model dir made by `assistant train`", "--model-dir")
    assert (mine / "thesis.txt").read_text() == "years of work" and sorted(mine.iterdir()) == [mine / "thesis.txt"]
    assert not (repo.root / ".assistant").exists()  # nothing written: the check comes before any work
