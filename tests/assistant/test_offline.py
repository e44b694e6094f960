"""Offline by default, safetensors only: no command but `pull` and `train --base ID` reaches the network, and no
pickled weights are loaded.

The network here is a local HTTP server standing in for the Hugging Face hub (HF_ENDPOINT points at it), which
records every request; the commands run with HF_HUB_OFFLINE unset, as on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import ASSISTANT, GitRepo, run_cli

from assistant.errors import UserError
from assistant.network import is_hub_id, network_allowed


class _Hub(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        _Hub.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A recording stand-in for the hub, and the environment of a user who is online with an empty cache."""
    _Hub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HOME=str(tmp_path / "hf"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    try:
        yield _Hub.seen, env
    finally:
        server.shutdown()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASSISTANT, *args], capture_output=True, text=True, timeout=300, env=env)


def test_complete_with_a_hub_base_in_model_json_never_downloads(hub, tmp_path: Path) -> None:
    seen, env = hub
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.json").write_text(json.dumps({"base": "someorg/some-coder", "profile": "starcoder2",
                                                      "kind": "adapter", "format_version": 1, "adapter": "adapter"}))
    source = tmp_path / "a.py"
    source.write_text("def f():\n    ")
    proc = _run(env, "complete", str(source), "--line", "2", "--col", "5", "--model-dir", str(model_dir))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "assistant pull someorg/some-coder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert seen == []


def test_train_with_a_base_only_in_config_never_downloads(hub, make_repo) -> None:
    seen, env = hub
    repo: GitRepo = make_repo()
    repo.commit({"a.py": "def f():\n    return 1\n"})
    config = Path(env["XDG_CONFIG_HOME"]) / "assistant" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[train]\nbase = "someorg/some-coder"\n')
    proc = _run(env, "train", "--repo", str(repo.root), "--max-steps", "1")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "assistant pull someorg/some-coder" in proc.stderr
    assert seen == []


def test_train_with_an_explicit_base_id_may_download(hub, make_repo) -> None:
    """The one command line that asks for a download gets one: the switch is a policy, not a broken network."""
    seen, env = hub
    repo: GitRepo = make_repo()
    repo.commit({"a.py": "def f():\n    return 1\n"})
    proc = _run(env, "train", "--repo", str(repo.root), "--base", "someorg/some-coder", "--max-steps", "1")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert any("some-coder" in request for request in seen), seen


def test_pull_downloads_safetensors_only(hub) -> None:
    seen, env = hub
    proc = _run(env, "pull", "someorg/some-coder")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "someorg/some-coder" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert any("some-coder" in request for request in seen), seen


def test_pull_refuses_what_is_not_a_hub_id(tmp_path: Path) -> None:
    proc = run_cli("pull", str(tmp_path))
    assert proc.returncode == 2 and "not a Hugging Face model id" in proc.stderr


@pytest.mark.parametrize(("argv", "allowed"), [
    (["train", "--base", "org/model"], True),
    (["--verbose", "train", "--repo", ".", "--base=org/model"], True),
    (["pull", "org/model"], True),
    (["train", "--repo", "."], False),
    (["train", "--base", "tiny"], False),
    (["train", "--base", "model.gguf"], False),
    (["serve", "--base", "org/model"], False),
    (["eval", "--base", "org/model"], False),
    (["export"], False),
])
def test_only_pull_and_train_with_an_explicit_id_are_online(argv: list[str], allowed: bool) -> None:
    assert network_allowed(argv) is allowed


def test_a_local_directory_is_not_a_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "org" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not is_hub_id("org/model")
    assert is_hub_id("org/other")


def _pickled(directory: Path, safetensors_name: str, pickle_name: str) -> None:
    """Replace a saved safetensors file by the same tensors as a pickle (what older tools and the hub hold)."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(directory / safetensors_name)
    (directory / safetensors_name).unlink()
    torch.save(tensors, directory / pickle_name)


def _pickled_model(path: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    LlamaForCausalLM(config).save_pretrained(path)
    _pickled(path, "model.safetensors", "pytorch_model.bin")
    return path


def test_a_base_with_pickled_weights_is_refused(tmp_path: Path) -> None:
    from assistant.models import load_base

    with pytest.raises(UserError, match="safetensors"):
        load_base(str(_pickled_model(tmp_path / "base")))


def test_an_adapter_with_pickled_weights_is_refused(tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from assistant.models import _with_adapter

    base = _pickled_model(tmp_path / "base")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "adapter")
    _pickled(tmp_path / "adapter", "adapter_model.safetensors", "adapter_model.bin")
    fresh = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    with pytest.raises(UserError, match="safetensors"):
        _with_adapter(fresh, tmp_path / "adapter")
