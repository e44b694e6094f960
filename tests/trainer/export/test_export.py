"""`assistant export` on a tiny model trained by `assistant train`: checked GGUF files, quantized copies that
llama.cpp loads and runs, the Ollama Modelfile, a broken export caught by the parity check, and bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import gguf
import pytest
from helpers import run_cli

from assistant.config import load_config
from assistant.errors import UserError
from assistant.modeldir import read_manifest
from assistant.models import load_tokenizer
from assistant.profiles import PROFILES
from assistant.prompt import FimInput, render_prompt
from server.backends import load_backend
from server.backends.base import GenerationRequest, generate
from trainer.export import arch as gguf_arch
from trainer.export.export import export
from trainer.export.parity import MAX_KL, MIN_AGREEMENT


def copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def exported(tiny_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    ws = copy_workspace(tiny_workspace, tmp_path_factory.mktemp("export") / "ws")
    proc = run_cli("export", "--repo", str(ws), "--quant", "q8_0,Q4_K_M")
    return ws, proc


def test_export_writes_checked_f16_and_quantized_files(exported: tuple[Path, Any]) -> None:
    ws, proc = exported
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "falling back" not in proc.stderr  # llama.cpp's per-tensor chatter stays out of the user's terminal
    md = ws / ".assistant" / "model"
    files = read_manifest(md).gguf
    assert [f["type"] for f in files] == ["f16", "q8_0", "q4_k_m"]
    umask = os.umask(0)
    os.umask(umask)
    for f in files:
        stat = (md / f["file"]).stat()
        assert stat.st_size == f["size"] and stat.st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    parity = files[0]["parity"]
    assert parity["source"] == "dataset" and parity["steps"] == 4 * 32 and parity["agreement"] >= MIN_AGREEMENT
    assert 0 <= parity["kl"] <= MAX_KL
    assert files[1]["size"] < files[0]["size"] and files[2]["size"] < files[1]["size"]
    assert not [p for p in md.iterdir() if p.name.startswith(".")]  # no temporary file left behind

    tokenizer = load_tokenizer(md / "tokenizer")
    fields = gguf.GGUFReader(md / "model-f16.gguf").fields
    assert fields["general.architecture"].contents() == "llama"
    assert fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16
    assert fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    assert fields["tokenizer.ggml.add_bos_token"].contents() is False
    assert fields["tokenizer.ggml.tokens"].contents() == tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    for key, token in (("fim_pre", "<fim_prefix>"), ("fim_suf", "<fim_suffix>"), ("fim_mid", "<fim_middle>"),
                       ("fim_sep", "<file_sep>"), ("eos", "<|endoftext|>")):
        assert fields[f"tokenizer.ggml.{key}_token_id"].contents() == tokenizer.convert_tokens_to_ids(token)
    assert gguf.GGUFReader(md / "model-q8_0.gguf").fields["general.file_type"].contents() == \
        gguf.LlamaFileType.MOSTLY_Q8_0


@pytest.mark.parametrize("kind", ["q8_0", "q4_k_m"])
def test_quantized_files_load_and_generate_in_llama_cpp(exported: tuple[Path, Any], kind: str) -> None:
    ws, _ = exported
    cfg = load_config(ws, {"server.backend": "llama-cpp", "server.gguf": kind})
    backend = load_backend(cfg.server, ws / ".assistant" / "model")
    assert f"({kind} gguf)" in backend.name
    prompt = render_prompt(backend.profile, FimInput(prefix="def handle_3_4(request):\n    ",
                                                     suffix="\n\n@register('x')\n", path="pkg/handlers_3.py"))
    gen = generate(backend, GenerationRequest(prompt, max_new_tokens=12))
    assert gen.tokens >= 1 and gen.finish in ("stop", "length")


def test_modelfile_runs_the_export_with_the_fim_template(exported: tuple[Path, Any]) -> None:
    ws, _ = exported
    md = ws / ".assistant" / "model"
    lines = (md / "Modelfile").read_text(encoding="utf-8").splitlines()
    directives = [line for line in lines if line and not line.startswith("#")]
    assert directives[0] == "FROM ./model-q8_0.gguf" and (md / "model-q8_0.gguf").is_file()
    template = next(line for line in directives if line.startswith("TEMPLATE "))[len('TEMPLATE """'):-3]
    profile = PROFILES[read_manifest(md).profile]
    assert profile.name == "tiny-spm"
    # Ollama's Go template with a suffix, by hand: what it sends must be our FIM prompt (no file header).
    with_suffix = template.split("{{- if .Suffix }}")[1].split("{{- else }}")[0]
    filled = with_suffix.replace("{{ .Prompt }}", "def f(x):\n    ").replace("{{ .Suffix }}", "\n    return y\n")
    assert filled == render_prompt(profile, FimInput(prefix="def f(x):\n    ", suffix="\n    return y\n"))
    assert template.endswith("{{- else }}{{ .Prompt }}{{- end }}")  # a pre-rendered prompt passes through
    stops = [line.split(" ", 2)[2].strip('"') for line in directives if line.startswith("PARAMETER stop ")]
    assert stops == list(profile.stop)
    assert "PARAMETER temperature 0" in directives and "PARAMETER repeat_penalty 1" in directives


def test_a_broken_tensor_layout_is_caught_and_nothing_is_written(tiny_workspace: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ws = copy_workspace(tiny_workspace, tmp_path / "ws")
    md = ws / ".assistant" / "model"
    before = {p.name: p.stat().st_mtime_ns for p in md.iterdir()}
    # The classic converter bug: llama's Q/K rows left in transformers' rotary layout. A nano model trained
    # for a minute leans little on attention, so its greedy picks may survive; its distributions do not.
    monkeypatch.setattr(gguf_arch, "permute_qk", lambda weight, n_heads: weight)
    with pytest.raises(UserError, match=r"^parity check failed: llama.cpp.*; nothing was written$"):
        export(md, load_config(ws, {"export.quant": "q8_0"}))
    assert {p.name: p.stat().st_mtime_ns for p in md.iterdir()} == before
    assert read_manifest(md).gguf == []


def test_bad_input_is_one_line_and_exit_2(tiny_workspace: Path, tmp_path: Path) -> None:
    cases = [
        (["--repo", str(tiny_workspace), "--quant", "q9_9"], "unknown quantization 'q9_9'; choose from: "),
        (["--repo", str(tiny_workspace), "--outtype", "f8"], "export.outtype = 'f8' is not allowed"),
        (["--repo", str(tiny_workspace), "--adapter-only"], "holds full weights (tiny-nano), not a LoRA adapter"),
        (["--model-dir", str(tmp_path / "nothing")], "is not a model dir (no model.json)"),
    ]
    for args, message in cases:
        proc = run_cli("export", *args)
        assert proc.returncode == 2, (args, proc.stderr[-1500:])
        assert proc.stderr.startswith("error: ") and message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not list((tiny_workspace / ".assistant" / "model").glob("*.gguf"))
