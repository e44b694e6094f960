"""Where a base model comes from: a Hugging Face id or directory, a GGUF file, or a model in Ollama's store.

transformers loads the first kind as it is. A GGUF file (llama.cpp, LM Studio) is dequantized once into a plain
model directory under the user's cache, keyed by the file's SHA-256, so that training, serving and export load
it in a second afterwards; an Ollama model name (`ollama:NAME[:TAG]`, or `NAME:TAG`) is resolved through
Ollama's manifest to the GGUF blob it stores, read only, and then treated as that GGUF file. `local_base` is
what the loaders call: it turns any of these into something `from_pretrained` takes; `describe_base` is what
model.json records, so that serve and export find the base again.

    ~/.cache/repo-assistant/bases/<sha256 of the GGUF, 16 hex>/   config.json, model.safetensors, tokenizer
    ~/.cache/repo-assistant/bases/index.json                       (path, size, mtime) -> sha256, to hash once
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from assistant.errors import UserError

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_OLLAMA_NAME = re.compile(r"^(?:ollama:)?(?P<name>[a-z0-9][\w.-]*(?:/[\w.-]+){0,2})(?::(?P<tag>[\w.-]+))?$",
                          re.IGNORECASE)


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/repo-assistant` (default `~/.cache/repo-assistant`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "repo-assistant"


def is_gguf(base: str) -> bool:
    return base.lower().endswith(".gguf")


def is_ollama(base: str) -> bool:
    """`ollama:NAME[:TAG]`, or `NAME:TAG` (a colon never appears in a Hugging Face id or a path we accept)."""
    if base.startswith("ollama:"):
        return True
    return ":" in base and not is_gguf(base) and not Path(base).exists() and bool(_OLLAMA_NAME.match(base))


def ollama_models_dir() -> Path:
    """Ollama's store: `$OLLAMA_MODELS`, else `~/.ollama/models`, else the Linux service's."""
    env = os.environ.get("OLLAMA_MODELS")
    if env:
        return Path(env).expanduser()
    home = Path.home() / ".ollama" / "models"
    service = Path("/usr/share/ollama/.ollama/models")
    return home if home.is_dir() or not service.is_dir() else service


def ollama_blob(base: str) -> Path:
    """The GGUF file Ollama stores for a model name, from its manifest (read only; nothing is written there)."""
    match = _OLLAMA_NAME.match(base)
    if match is None:
        raise UserError(f"{base!r} is not an Ollama model name (ollama:NAME[:TAG], e.g. ollama:qwen2.5-coder:1.5b)")
    name, tag = match.group("name"), match.group("tag") or "latest"
    parts = name.split("/")
    host, namespace = ("registry.ollama.ai", "library") if len(parts) == 1 else \
        ("registry.ollama.ai", parts[0]) if len(parts) == 2 else (parts[0], parts[1])
    store = ollama_models_dir()
    manifest = store / "manifests" / host / namespace / parts[-1] / tag
    if not manifest.is_file():
        raise UserError(f"Ollama has no model {name}:{tag} in {store} (no {manifest}); `ollama pull {name}:{tag}` "
                        "while online, or set OLLAMA_MODELS to the store that has it")
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        digest = next(layer["digest"] for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER)
    except (json.JSONDecodeError, StopIteration, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{manifest} is not an Ollama manifest with a model layer; `ollama pull {name}:{tag}` "
                        "again") from e
    blob = store / "blobs" / str(digest).replace(":", "-")
    if not blob.is_file():
        raise UserError(f"Ollama's blob {blob.name} for {name}:{tag} is missing; `ollama pull {name}:{tag}` again")
    return blob


def describe_base(base: str) -> dict[str, Any]:
    """What model.json records about where the base came from (besides `base` itself)."""
    if is_ollama(base):
        blob = ollama_blob(base)
        return {"kind": "ollama", "gguf": str(blob), "sha256": file_sha256(blob)}
    if is_gguf(base):
        path = Path(base).expanduser().resolve()
        return {"kind": "gguf", "gguf": str(path), "sha256": file_sha256(path)}
    if base == "tiny" or base.startswith("tiny-"):
        return {"kind": "tiny"}
    return {"kind": "directory" if Path(base).expanduser().is_dir() else "hub"}


def local_base(base: str) -> str:
    """Something `from_pretrained` loads for `base`: a GGUF (or Ollama model) becomes its cached plain model dir."""
    if is_ollama(base):
        return str(dequantized(ollama_blob(base)))
    if is_gguf(base):
        path = Path(base).expanduser()
        if not path.is_file():
            raise UserError(f"{base} does not exist; pass the path of a .gguf file with --base")
        return str(dequantized(path.resolve()))
    return base


def file_sha256(path: Path) -> str:
    """The file's SHA-256, remembered by (path, size, mtime) so a large GGUF is read once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache_root() / "bases" / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        index = {}
    if key in index:
        return str(index[key])
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    index[key] = digest.hexdigest()
    index_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    tmp.replace(index_path)
    return str(index[key])


def dequantized(gguf: Path) -> Path:
    """The plain model dir made from a GGUF file, made now if it is not in the cache yet."""
    target = cache_root() / "bases" / file_sha256(gguf)[:16]
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(gguf, tmp)
        (tmp / "source.json").write_text(json.dumps({"gguf": str(gguf), "sha256": file_sha256(gguf)}, indent=1),
                                         encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:  # another process made it meanwhile: theirs is as good
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantize with transformers' GGUF reader, then copy into a plain model: one loaded from GGUF carries a
    quantization config, and transformers refuses to save such a model."""
    import torch
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = ("reading the tokenizer", "dequantizing the weights", "writing the plain model")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(f"{gguf.name}: {steps[0]} (once; cached in {out.parent})", total=len(steps))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            bar.update(task, advance=1, description=f"{gguf.name}: {steps[1]}")
            loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                          dtype=torch.float32)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise UserError(f"transformers cannot read {gguf} as a model ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:160] if str(e) else ''}); use a GGUF of a llama, qwen2, "
                            "starcoder2 or other architecture transformers supports") from e
        bar.update(task, advance=1, description=f"{gguf.name}: {steps[2]}")
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict())
        plain.save_pretrained(str(out), safe_serialization=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.save_pretrained(str(out))
        bar.update(task, advance=1)
