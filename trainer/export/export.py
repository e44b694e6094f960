"""Export: a model dir in, GGUF files (f16/f32 + quantized, or a LoRA) and an Ollama Modelfile out.

Run it with `assistant export [--model-dir DIR] [--quant q8_0,q4_k_m] [--outtype f16|f32] [--adapter-only]`.
Top to bottom: load the model dir and merge its adapter, write the GGUF to a temporary name beside the
target, run the parity check (llama.cpp against transformers on the repository's own prompts), quantize
with llama.cpp, write the Modelfile, then rename everything into place and record the files in model.json.
A failed check or a crash leaves the model dir as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from assistant import workspace
from assistant.config import Config
from assistant.errors import UserError
from assistant.modeldir import Manifest, read_manifest, write_manifest
from trainer.export.modelfile import modelfile
from trainer.export.quant import checked_quants, quantize

MODELFILE = "Modelfile"


@dataclass
class ExportResult:
    files: list[dict[str, Any]]
    parity: Any
    """`trainer.export.parity.Parity` of the checked file."""
    modelfile: Path


def preflight(model_dir: Path, cfg: Config, adapter_only: bool) -> tuple[Manifest, list[str]]:
    """The checks that need no model loaded (the manifest, the quantization names, the mode): fail in a second."""
    manifest = read_manifest(model_dir)
    quants = checked_quants(cfg.export.quant)
    if adapter_only and manifest.kind != "adapter":
        raise UserError(f"{model_dir} holds full weights ({manifest.base}), not a LoRA adapter; export it without "
                        "--adapter-only")
    return manifest, quants


def export(model_dir: Path, cfg: Config, adapter_only: bool = False, console: Console | None = None,
           keep_unquantized: bool = True) -> ExportResult:
    """Write the GGUF files `cfg.export` asks for into `model_dir` and record them in model.json. Without
    `keep_unquantized` (what `train` asks for), the f16/f32 file is only the parity-checked source of the quantized
    ones, deleted once they are written."""
    manifest, quants = preflight(model_dir, cfg, adapter_only)
    keep_unquantized = keep_unquantized or not quants
    # torch and transformers load only after the inputs passed the quick checks.
    from assistant.models import load_model_dir
    from trainer.export import writer
    from trainer.export.arch import arch_of
    from trainer.export.parity import check_parity, parity_prompts

    console = console or Console(stderr=True)
    ex = cfg.export
    console.print(f"loading {model_dir} ...")
    loaded = load_model_dir(model_dir)
    # The adapter folded into the base weights: what transformers runs and what a whole-model GGUF holds.
    model: Any = loaded.model.merge_and_unload() if manifest.kind == "adapter" else loaded.model  # type: ignore[operator]
    model.eval()
    arch = arch_of(model.config)
    prompts, source = parity_prompts(workspace.data_beside(model_dir), loaded.profile, loaded.tokenizer,
                                     ex.parity_prompts)
    title = f"{manifest.base} tuned on {manifest.trained_on.get('repo') or model_dir}"
    threads = cfg.server.threads

    with staging(model_dir) as stage:
        if adapter_only:
            base_gguf = ensure_base_gguf(manifest.base, loaded.tokenizer, loaded.profile, arch, ex.outtype,
                                         ex.base_gguf, console)
            lora_name = f"adapter-{ex.outtype}.gguf"
            console.print(f"writing {lora_name} (LoRA for {base_gguf}) ...")
            lora = stage(lora_name)
            info = writer.write_lora(lora, model_dir / (manifest.adapter or "adapter"), model.config, arch,
                                         ex.outtype, title)
            console.print(f"parity check: llama.cpp ({base_gguf.name} + LoRA) against transformers ...")
            parity = check_parity(base_gguf, model, loaded.tokenizer, prompts, ex.parity_tokens, source,
                                  lora_path=lora, threads=threads)
            files = [{"file": lora_name, "type": f"lora-{ex.outtype}", "size": lora.stat().st_size,
                      "base": str(base_gguf), "base_model": manifest.base, **info, "parity": parity.to_dict()}]
            if quants:
                console.print("note: --quant applies to whole-model exports; the LoRA runs over any quantization "
                              "of the base GGUF")
            text = modelfile(loaded.profile, cfg.server, str(base_gguf), lora_name, title=title)
        else:
            main_name = f"model-{ex.outtype}.gguf"
            console.print(f"writing {main_name} ({arch.name}) ...")
            main = stage(main_name) if keep_unquantized else temp_beside(model_dir / main_name)
            try:
                writer.write_model(main, model, loaded.tokenizer, loaded.profile, arch, ex.outtype, title)
                console.print(f"parity check: llama.cpp against transformers on {len(prompts)} prompts ({source}) ...")
                parity = check_parity(main, model, loaded.tokenizer, prompts, ex.parity_tokens, source,
                                      threads=threads)
                files = [{"file": main_name, "type": ex.outtype, "size": main.stat().st_size,
                          "parity": parity.to_dict()}]
                for kind in quants:
                    name = f"model-{kind}.gguf"
                    console.print(f"quantizing {name} ...")
                    path = stage(name)
                    quantize(main, path, kind, threads)
                    files.append({"file": name, "type": kind, "size": path.stat().st_size, "from": main_name})
            finally:
                if not keep_unquantized:
                    main.unlink(missing_ok=True)
            if not keep_unquantized:  # the checked file is gone: its quantizations carry its parity
                files = [{**f, "from": ex.outtype, "parity": files[0]["parity"]} for f in files[1:]]
            run = next((f["file"] for f in files if f["type"] != ex.outtype), main_name)
            others = tuple(f["file"] for f in files if f["file"] != run)
            text = modelfile(loaded.profile, cfg.server, run, others=others, title=title)
        stage(MODELFILE).write_text(text, encoding="utf-8")

    record(model_dir, files)
    console.print(f"parity: {parity.agreement:.1%} of {parity.steps} greedy steps agree on {parity.prompts} prompts, "
                  f"mean KL {parity.kl:.2g} nats")
    return ExportResult(files, parity, model_dir / MODELFILE)


@contextlib.contextmanager
def staging(model_dir: Path) -> Iterator[Any]:
    """`stage(name)` gives a temporary path beside `model_dir/name`; on success all are renamed into place."""
    staged: dict[str, Path] = {}

    def stage(name: str) -> Path:
        staged[name] = temp_beside(model_dir / name)
        return staged[name]

    try:
        yield stage
    except BaseException:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    for name, tmp in staged.items():
        os.replace(tmp, model_dir / name)


def temp_beside(path: Path) -> Path:
    """An empty temporary file next to `path`, readable like any file the user creates (mkstemp's is 0600,
    which would hide a GGUF from, say, an Ollama service user)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def record(model_dir: Path, files: list[dict[str, Any]]) -> None:
    """List the new files in model.json (re-read now: it may have changed meanwhile); drop the old export's."""
    manifest = read_manifest(model_dir)
    current = {f["file"] for f in files}
    stale = [f.get("file") for f in manifest.gguf if f.get("file") not in current]
    manifest.gguf = files
    write_manifest(model_dir, manifest)
    for name in stale:
        if isinstance(name, str) and "/" not in name:
            with contextlib.suppress(FileNotFoundError):
                (model_dir / name).unlink()


def base_gguf_path(base: str, outtype: str, configured: str) -> Path:
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repo-assistant" / "gguf"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", base.strip("/")).strip("-.") or "base"
    return cache / f"{slug}-{outtype}.gguf"


def ensure_base_gguf(base: str, tokenizer: Any, profile: Any, arch: Any, outtype: str, configured: str,
                     console: Console) -> Path:
    """The base model's GGUF a LoRA export applies to: the configured file, or one converted once and cached."""
    from assistant.models import load_base
    from trainer.export import writer
    from trainer.export.arch import arch_of

    path = base_gguf_path(base, outtype, configured)
    if path.is_file():
        return path
    if configured:
        raise UserError(f"export.base_gguf = {configured!r} does not exist; point it at the base model's GGUF "
                        "or leave it empty to convert the base")
    console.print(f"converting the base {base} to {path} (once; later exports reuse it) ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = load_base(base)
    tmp = temp_beside(path)
    try:
        writer.write_model(tmp, model, tokenizer, profile, arch_of(model.config), outtype, base)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
