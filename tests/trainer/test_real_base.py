"""A real pretrained model end to end: SmolLM2-135M (a GGUF file, no FIM tokens) as the base of a LoRA run,
then served, completed and exported back to GGUF with the parity check.

It proves the plumbing on a real architecture and tokenizer (49,152 tokens, tied embeddings, a Q4_1 GGUF);
the quality claim lives in the README's figures, measured by the commands named there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TEST_CACHE, GitRepo, pattern_module, run_cli

from assistant.profiles import GENERIC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_workspace(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A small repository and a LoRA on SmolLM2 trained on it for a few steps."""
    env = {"XDG_CACHE_HOME": str(TEST_CACHE)}  # the dequantized base is kept there between runs
    repo = GitRepo(tmp_path_factory.mktemp("real") / "repo")
    for i in range(6):
        repo.commit({f"pkg/handlers_{i}.py": pattern_module(i)}, message=f"handlers {i}")
    repo.write("assistant.toml", "[server]\ntime_budget_ms = 60000\nmax_new_tokens = 12\n"
                                 "[export]\nparity_prompts = 2\n")
    proc = run_cli("train", "--repo", str(repo.root), "--base", str(smollm2_gguf), "--method", "lora",
                   "--max-steps", "2", "--batch-size", "2", "--seq-len", "192", "--max-minutes", "0", "--no-eval",
                   env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return repo.root, env


def test_a_gguf_base_trains_with_the_generic_profile(real_workspace: tuple[Path, dict[str, str]],
                                                     smollm2_gguf: Path) -> None:
    root, _ = real_workspace
    manifest = json.loads((root / ".assistant" / "model" / "model.json").read_text())
    assert manifest["base"] == str(smollm2_gguf) and manifest["profile"] == "generic"
    assert manifest["base_source"]["kind"] == "gguf" and len(manifest["base_source"]["sha256"]) == 64
    assert manifest["added_tokens"] == list(GENERIC.tokens)
    adapter = root / ".assistant" / "model" / "adapter" / "adapter_model.safetensors"
    assert adapter.stat().st_size < 40 * 2**20  # LoRA and four token rows, not the whole embedding matrix


def test_training_a_real_base_writes_a_q8_0_gguf_that_is_served_by_default(
        real_workspace: tuple[Path, dict[str, str]]) -> None:
    """`train` exports the tuned model as q8_0 (parity-checked through its f16 source, which is not kept), and
    `server.backend = auto` runs it with llama.cpp."""
    root, env = real_workspace
    model = root / ".assistant" / "model"
    entries = json.loads((model / "model.json").read_text())["gguf"]
    assert [(e["file"], e["type"], e["from"]) for e in entries] == [("model-q8_0.gguf", "q8_0", "f16")]
    assert entries[0]["parity"]["agreement"] >= 0.95
    assert (model / "model-q8_0.gguf").stat().st_size == entries[0]["size"]
    assert not list(model.glob("model-f16.gguf")) and not list(model.glob(".*.tmp"))
    proc = run_cli("complete", str(root / "pkg" / "handlers_2.py"), "--line", "9", "--col", "1", "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["tokens"] > 0 and "<|repo_fim" not in out["completion"]
    assert out["model"].endswith("(q8_0 gguf)")


def test_the_tuned_real_model_completes_with_transformers(real_workspace: tuple[Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    root, env = real_workspace
    (tmp_path / "assistant").mkdir()
    (tmp_path / "assistant" / "config.toml").write_text('[server]\nbackend = "transformers"\n')  # the user's own
    proc = run_cli("complete", str(root / "pkg" / "handlers_2.py"), "--line", "9", "--col", "1", "--json",
                   env={**env, "XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["tokens"] > 0 and "<|repo_fim" not in out["completion"] and not out["model"].endswith("gguf)")


def test_the_tuned_real_model_exports_to_gguf_with_parity(real_workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = real_workspace
    proc = run_cli("export", "--repo", str(root), "--quant", "q8_0", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((root / ".assistant" / "model" / "model.json").read_text())
    kinds = {entry["type"] for entry in manifest["gguf"]}
    assert {"f16", "q8_0"} <= kinds
    assert any(entry.get("parity") for entry in manifest["gguf"])


def test_a_left_to_right_model_exports_and_serves_with_llama_cpp(smollm2_gguf: Path, tmp_path: Path) -> None:
    """The profile a base without FIM tokens can use at once (prompted with the code before the cursor): its GGUF
    names no FIM tokens, passes the parity check and answers through llama.cpp."""
    env = {"XDG_CACHE_HOME": str(TEST_CACHE)}
    repo = GitRepo(tmp_path / "repo")
    for i in range(3):
        repo.commit({f"pkg/handlers_{i}.py": pattern_module(i)}, message=f"handlers {i}")
    repo.write("assistant.toml", "[server]\nmax_new_tokens = 8\n[export]\nparity_prompts = 1\nparity_tokens = 8\n")
    proc = run_cli("train", "--repo", str(repo.root), "--base", str(smollm2_gguf), "--profile", "left-to-right",
                   "--max-steps", "1", "--batch-size", "1", "--seq-len", "128", "--max-minutes", "0", "--no-eval",
                   env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GGUF written: model-q8_0.gguf" in proc.stdout + proc.stderr
    proc = run_cli("complete", str(repo.root / "pkg" / "handlers_1.py"), "--line", "6", "--col", "1", "--json",
                   env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["model"].endswith("(q8_0 gguf)")
