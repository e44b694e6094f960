"""The model directory: the one contract between trainer, server and export.

    <repo>/.assistant/model/
        model.json   manifest (this module's `Manifest`)
        adapter/     PEFT adapter, when the base is a pretrained model
        weights/     full weights, when the model was trained in full (the tiny base)
        tokenizer/   when the base was built here or its tokenizer changed
        *.gguf       after `assistant export` (and an Ollama Modelfile)
        eval/        report.json, report.md, comparison.png

A model dir is only ever published whole: `staged_dir` builds it in a temporary sibling and renames it
into place, so a reader sees the old complete dir or the new complete dir, never a half-written one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import UserError

FORMAT_VERSION = 1
MANIFEST = "model.json"


@dataclass
class Manifest:
    base: str
    """'tiny', a Hugging Face id or a local path."""
    profile: str
    kind: str
    """'adapter' (PEFT adapter over `base`) or 'full' (complete weights in weights/)."""
    format_version: int = FORMAT_VERSION
    base_revision: str = ""
    base_source: dict[str, Any] = field(default_factory=dict)
    """Where the base came from (`assistant.bases.describe_base`): kind (hub, directory, gguf, ollama, tiny),
    and for a GGUF or an Ollama model the file and its SHA-256, so serve and export find the same base again."""
    added_tokens: list[str] = field(default_factory=list)
    """Special tokens training added to the base's tokenizer (the generic profile's); tokenizer/ has them."""
    adapter: str | None = None
    weights: str | None = None
    tokenizer: str | None = None
    gguf: list[dict[str, Any]] = field(default_factory=list)
    """Files `assistant export` wrote: {file, type (f16, f32, q8_0, ..., lora-f16), size in bytes}, plus `parity`
    (the check's result) on the checked file, `from` on quantized copies, `base` (the base GGUF) on a LoRA."""
    trained_on: dict[str, Any] = field(default_factory=dict)
    """repo, head, commit range, example counts."""
    training: dict[str, Any] = field(default_factory=dict)
    """method, resolved config, tokens seen, steps, wall time, losses."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """evaluation summary (base vs tuned)."""
    created_at: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"


def check_replaceable(target: Path) -> None:
    """Fail unless publishing a model dir at `target` loses nothing of the user's: it does not exist, is an empty
    directory, or is a model dir this tool made (it has model.json). Publishing replaces the whole directory."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not target.is_symlink() and ((target / MANIFEST).is_file() or not any(target.iterdir())):
        return
    raise UserError(f"{target} exists and is not a model dir made by `assistant train` (no {MANIFEST}); publishing "
                    "would replace it: choose another --model-dir, or move it away yourself")


def read_manifest(model_dir: Path) -> Manifest:
    """Load and check model.json, or raise UserError saying what is wrong and how to fix it."""
    path = model_dir / MANIFEST
    if not path.is_file():
        raise UserError(f"{model_dir} is not a model dir (no {MANIFEST}); train one with `assistant train`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is corrupt ({e}); retrain with `assistant train`") from e
    if not isinstance(data, dict):
        raise UserError(f"{path} is corrupt (not an object); retrain with `assistant train`")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(f"{path} has format version {version!r}, this tool reads {FORMAT_VERSION}; "
                        "retrain with `assistant train`")
    known = {f.name for f in dataclasses.fields(Manifest)}
    try:
        manifest = Manifest(**{k: v for k, v in data.items() if k in known})
    except TypeError as e:
        raise UserError(f"{path} is missing fields ({e}); retrain with `assistant train`") from e
    if manifest.kind not in ("adapter", "full"):
        raise UserError(f"{path}: kind {manifest.kind!r} is not 'adapter' or 'full'; retrain with `assistant train`")
    return manifest


def write_manifest(model_dir: Path, manifest: Manifest) -> None:
    """Replace model.json atomically (used to record eval results and exports in a published dir)."""
    atomic_write_text(model_dir / MANIFEST, manifest.to_json())


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary dir beside `target`; on success it replaces `target`, on failure it is removed.

    The swap is two renames (old away, new in); between them `target` is briefly absent, never partial.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.rename(target, old / target.name)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
