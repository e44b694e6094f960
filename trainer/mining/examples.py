"""Training examples and the dataset dir they are stored in.

    <repo>/.assistant/data/
        meta.json       format version, HEAD, mining-config hash, stats
        train.jsonl     one `Example` per line, split == "train"
        heldout.jsonl   the newest commits' examples, never trained on

`mine` writes it, `train` and `eval` read it; it is reused while HEAD and the mining config are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import UserError
from assistant.modeldir import atomic_write_text, staged_dir

DATA_FORMAT_VERSION = 1


@dataclass
class Example:
    """One fill-in-the-middle example: the model sees prefix and suffix and learns to write the middle."""

    path: str
    language: str
    prefix: str
    middle: str
    suffix: str
    kind: str
    """'hunk' (lines an author added), 'span' (text added inside a line) or 'random' (a random FIM span)."""
    commit: str = ""
    timestamp: int = 0
    """Commit time (Unix seconds) of the commit the example comes from."""
    weight: float = 1.0
    """Sampling weight: newer commits count more (recency weighting)."""
    split: str = "train"
    snippets: list[list[str]] = field(default_factory=list)
    """Up to two [path, text] windows of other files changed in the same commit (as they stood after it),
    ranked by `assistant.snippets`: the context the server gives from other open files."""

    @property
    def key(self) -> str:
        """A stable id: identical examples share it (used for exact dedupe and in reports)."""
        h = hashlib.sha1()
        for part in (self.path, self.prefix, self.middle, self.suffix):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()[:16]


@dataclass
class Dataset:
    train: list[Example]
    heldout: list[Example]
    meta: dict[str, Any] = field(default_factory=dict)


def config_hash(section: Any) -> str:
    """A short hash of a config section: the dataset is reused only while it is unchanged."""
    text = json.dumps(dataclasses.asdict(section), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def write_dataset(data_dir: Path, dataset: Dataset) -> None:
    """Publish the dataset dir atomically."""
    with staged_dir(data_dir) as tmp:
        for name, rows in (("train", dataset.train), ("heldout", dataset.heldout)):
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for ex in rows:
                    f.write(json.dumps(dataclasses.asdict(ex), ensure_ascii=False) + "\n")
        meta = {"format_version": DATA_FORMAT_VERSION, **dataset.meta}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")


def read_meta(data_dir: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((data_dir / "meta.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format_version") == DATA_FORMAT_VERSION else None


def read_dataset(data_dir: Path) -> Dataset:
    meta = read_meta(data_dir)
    if meta is None:
        raise UserError(f"{data_dir} holds no dataset of this version; run `assistant mine`")
    return Dataset(train=list(_read_jsonl(data_dir / "train.jsonl")),
                   heldout=list(_read_jsonl(data_dir / "heldout.jsonl")), meta=meta)


def _read_jsonl(path: Path) -> Iterator[Example]:
    names = {f.name for f in dataclasses.fields(Example)}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                yield Example(**{k: v for k, v in row.items() if k in names})
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise UserError(f"{path} is unreadable ({e}); delete {path.parent} and run `assistant mine` again") from e


def dedupe(examples: Iterable[Example]) -> list[Example]:
    """Drop exact duplicates (same path, prefix, middle and suffix), keeping the first."""
    seen: set[str] = set()
    out = []
    for ex in examples:
        if ex.key not in seen:
            seen.add(ex.key)
            out.append(ex)
    return out
