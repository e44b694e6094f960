"""Bases of every kind a user has: a GGUF file (dequantized once, cached by its hash) and an Ollama model name
(resolved through Ollama's manifest to the GGUF blob it stores, read only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import GitRepo, pattern_module, run_cli

from assistant.bases import describe_base, file_sha256, is_ollama, local_base
from assistant.errors import UserError
from assistant.models import load_base, load_tokenizer
from assistant.profiles import PROFILES
from trainer.export.arch import arch_of
from trainer.export.writer import write_model
from trainer.training import tiny

CODE = ["def add(a, b):\n    return a + b\n", "class Box:\n    def __init__(self, v):\n        self.v = v\n"] * 30


@pytest.fixture(scope="module")
def nano_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module, object]:
    """A nano Llama and its tokenizer written as an f32 GGUF by the project's own writer."""
    tok = tiny.train_tokenizer(CODE, 400)
    model = tiny.build_model("nano", tok, seed=3).eval()
    path = tmp_path_factory.mktemp("gguf") / "nano.f32.gguf"
    write_model(path, model, tok, PROFILES["tiny-spm"], arch_of(model.config), "f32", "nano")
    return path, model, tok


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_gguf_base_is_dequantized_once_into_a_plain_model_dir(nano_gguf, private_cache: Path) -> None:
    path, model, tok = nano_gguf
    made = Path(local_base(str(path)))
    assert made.parent == private_cache / "repo-assistant" / "bases" and made.name == file_sha256(path)[:16]
    config = json.loads((made / "config.json").read_text())
    assert "quantization_config" not in config  # a plain model: transformers saves and reloads it
    stamp = (made / "model.safetensors").stat().st_mtime_ns
    assert Path(local_base(str(path))) == made and (made / "model.safetensors").stat().st_mtime_ns == stamp
    loaded, loaded_tok = load_base(str(path)), load_tokenizer(str(path))
    ids = torch.tensor([tok("def add(a, b):\n    return")["input_ids"]])
    assert loaded_tok("def add(a, b):\n    return")["input_ids"] == ids[0].tolist()
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, model(ids).logits, atol=1e-4)
    assert describe_base(str(path)) == {"kind": "gguf", "gguf": str(path.resolve()), "sha256": file_sha256(path)}
    assert not list(made.parent.glob(f".{made.name}.*"))  # no half-written dir left beside it


def ollama_store(root: Path, name: str, tag: str, blob_source: Path) -> None:
    digest = "sha256:" + file_sha256(blob_source)
    (root / "blobs").mkdir(parents=True)
    shutil.copy(blob_source, root / "blobs" / digest.replace(":", "-"))
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:00"},
        {"mediaType": "application/vnd.ollama.image.model", "digest": digest}]}))


def test_an_ollama_model_is_read_from_its_store(nano_gguf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, _ = nano_gguf
    store = tmp_path / "ollama"
    ollama_store(store, "nano-coder", "1b", path)
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    assert is_ollama("nano-coder:1b") and is_ollama("ollama:nano-coder:1b") and not is_ollama("org/model")
    assert Path(local_base("ollama:nano-coder:1b")) == Path(local_base(str(path)))  # the same file, the same dir
    assert describe_base("nano-coder:1b")["kind"] == "ollama"
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # Ollama's store is only read
    with pytest.raises(UserError, match=r"Ollama has no model other:latest .*ollama pull other:latest"):
        local_base("ollama:other")


def test_training_on_a_gguf_base_prints_no_library_line(nano_gguf, tmp_path: Path) -> None:
    """Dequantizing is the tool's own step (a rich bar on a terminal); transformers' tqdm bar stays off."""
    path, _, _ = nano_gguf
    repo = GitRepo(tmp_path / "r")
    for i in range(3):
        repo.commit({f"h{i}.py": pattern_module(i)})
    proc = run_cli("train", "--repo", str(repo.root), "--base", str(path), "--method", "lora", "--max-steps", "1",
                   "--no-eval", env={"XDG_CACHE_HOME": str(tmp_path / "fresh-cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "fresh-cache" / "repo-assistant" / "bases").is_dir()  # it was dequantized in this run
    assert "de-quantizing" not in proc.stderr and "it/s" not in proc.stderr, proc.stderr


def test_a_missing_gguf_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"does not exist; pass the path of a \.gguf file"):
        local_base(str(tmp_path / "nowhere.gguf"))
