"""A user's terminal shows our lines only: other libraries' warnings and logs stay off it unless --verbose.

The guard against the next library that starts printing: a real `assistant train` (a missing base, then the
tiny base) must leave nothing on stderr that looks like a library talking.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GitRepo, pattern_module, run_cli

LIBRARY_TALK = re.compile(
    r"warn|skipping|traceback|deprecat|offline mode|huggingface|hf_hub|bitsandbytes|kernels|peft|accelerate|"
    r"torch_dtype|llama_|ggml|gguf|\bINFO\b|\bDEBUG\b|it/s\]|s/it\]",
    re.IGNORECASE)
"""What a library's line looks like: a warning, a notice, a logger's level, a tqdm bar."""


def library_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if LIBRARY_TALK.search(line)]


def test_train_with_a_missing_base_prints_our_one_line_only(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "def f():\n    return 1\n" * 20})
    proc = run_cli("train", "--repo", str(repo.root), "--base", "nobody/no-such-model-1b")
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("error: cannot load base model")
    assert library_lines(proc.stderr) == [], proc.stderr


@pytest.mark.slow
def test_train_on_the_tiny_base_prints_no_library_line(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    for i in range(3):
        repo.commit({f"pkg/handlers_{i}.py": pattern_module(i)}, message=f"handlers {i}")
    proc = run_cli("train", "--repo", str(repo.root), "--base", "tiny", "--tiny-size", "nano", "--max-steps", "3",
                   "--no-eval")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert library_lines(proc.stderr) == [], proc.stderr
    assert (repo.root / ".assistant" / "model" / "model.json").is_file()


SPEAKER = """
import logging, sys, warnings
sys.argv = ["assistant", *sys.argv[1:]]
from assistant.cli.app import _take_verbose
from assistant.logs import quiet_libraries
quiet_libraries(verbose=_take_verbose(sys.argv[1:]))
warnings.warn("a library's UserWarning")
logging.getLogger("peft.tuners").warning("a library's log warning")
logging.getLogger("kernels").warning("Skipping publisher trust check")
logging.getLogger("assistant.server").warning("our own log line")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_lets_the_libraries_speak(verbose: bool) -> None:
    args = ["train", "--repo", ".", "--verbose"] if verbose else ["train", "--repo", "."]
    proc = subprocess.run([sys.executable, "-c", SPEAKER, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "our own log line" in proc.stderr
    for said in ("UserWarning", "a library's log warning", "Skipping publisher trust check"):
        assert (said in proc.stderr) is verbose, proc.stderr


def test_verbose_is_taken_wherever_it_is_typed() -> None:
    from assistant.cli.app import _take_verbose

    argv = ["train", "--repo", ".", "--verbose"]
    assert _take_verbose(argv) and argv == ["--verbose", "train", "--repo", "."]
    argv = ["complete", "f.py", "--", "--verbose"]
    assert not _take_verbose(argv) and argv == ["complete", "f.py", "--", "--verbose"]
