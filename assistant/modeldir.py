"""The model directory: the one contract between trainer, server and export.

    <repo>/.assistant/model/
        model.json   manifest (this module's `Manifest`)
        adapter/     PEFT adapter, when the base is a pretrained model
        weights/     full weights, when the model was trained in full (the tiny base)
        tokenizer/   when the base was built here or its tokenizer changed
        *.gguf       after `assistant export` (and an Ollama Modelfile)
        eval/        report.json, report.md, comparison.png

A model dir is only ever published whole: `staged_dir` builds it in a temporary sibling and swaps it into
place in one atomic step, so a reader sees the old complete dir or the new complete dir, never a half-written
one. Who may publish: one command per repository at a time (`assistant.workspace.repo_lock`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import glob
import json
import os
import shutil
import sys
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
    """Yield a fresh dir beside `target` to fill; on success it takes `target`'s place, on failure it is removed.

    The swap is atomic where the kernel allows: renameat2(RENAME_EXCHANGE) (Linux >= 3.15 and glibc >= 2.28, on
    ext4, xfs, btrfs, tmpfs, ...) trades the two names in one step, so `target` is at every moment the old
    complete dir or the new one. Elsewhere (other systems, filesystems without the flag) it falls back to two
    renames, old away then new in, with the old moved back if the second fails: `target` is then briefly absent,
    never partial. The new tree's files and dirs are fsynced before the swap and the parent dir after it.
    Staging dirs are named `.<name>.new-<pid>.*`; those of dead processes (a crash, a kill) are removed here
    before the next publish, and the old dir is removed after the swap, so no `.<name>.*` dir stays behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-{os.getpid()}."))
    try:
        yield tmp
        fsync_tree(tmp)
        old = swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def swap_into_place(new: Path, target: Path) -> Path | None:
    """Put `new` at `target`; returns where the old `target` now is (to be removed), None if there was none."""
    if not target.exists() and not target.is_symlink():
        os.rename(new, target)
        fsync_dir(target.parent)
        return None
    if exchange(new, target):
        fsync_dir(target.parent)
        return new  # the staging name now holds the old dir
    aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-{os.getpid()}."))
    try:
        os.rename(target, aside / target.name)
    except BaseException:
        os.rmdir(aside)
        raise
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside / target.name, target)  # roll back: the old dir returns
        os.rmdir(aside)
        raise
    fsync_dir(target.parent)
    return aside


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None
    if func is not None:
        func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Trade the names `a` and `b` atomically; False where the system or filesystem cannot (nothing changed)."""
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel, or a filesystem without the flag
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def fsync_tree(root: Path) -> None:
    """fsync every file and dir under `root` (and `root`): the new tree is on disk before it is published."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(target: Path) -> None:
    """Remove `.<name>.new-*` and `.<name>.old-*` dirs beside `target` that no live process is writing.

    A staging dir's name carries its maker's pid (`.model.new-<pid>.<random>`); one whose maker is alive is
    another publish in progress and is left alone. Names without a pid are an older version's leftovers. A
    crash between the fallback's two renames leaves `target` absent and the old dir in `.<name>.old-*`: it is
    moved back rather than removed."""
    for kind in ("old", "new"):
        prefix = f".{target.name}.{kind}-"
        for path in target.parent.glob(f"{glob.escape(prefix)}*"):
            if not path.is_dir() or path.is_symlink() or maker_alive(path.name[len(prefix):]):
                continue
            if kind == "old" and (path / target.name).is_dir() and not target.exists() and not target.is_symlink():
                os.rename(path / target.name, target)
            shutil.rmtree(path, ignore_errors=True)


def maker_alive(suffix: str) -> bool:
    pid, dot, _ = suffix.partition(".")
    if not dot or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
