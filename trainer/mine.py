"""Mining: turn a repository into fill-in-the-middle training examples.

Run it with `assistant mine --repo PATH`. Source files in the selected languages at HEAD become random FIM
examples (a span of whole lines, or the end of a line, is the middle).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from rich.console import Console

from assistant.config import MineConfig
from assistant.errors import UserError
from assistant.languages import language_of, select
from trainer.examples import Dataset, Example, config_hash, dedupe, read_dataset, read_meta, write_dataset
from trainer.git import BlobReader, Repo


def mine(repo_path: Path, cfg: MineConfig) -> Dataset:
    """Mine the repository at `repo_path` into a dataset (nothing is written here)."""
    started = time.monotonic()
    repo = Repo.open(repo_path)
    head = repo.rev_parse(cfg.branch or "HEAD")
    languages = select(cfg.languages)
    rng = random.Random(cfg.seed)
    skipped: dict[str, int] = {}
    examples: list[Example] = []
    files = 0
    with BlobReader(repo) as blobs:
        for entry in repo.ls_tree(head):
            lang = language_of(entry.path)
            if lang is None or lang.name not in languages:
                continue
            text = _decode_source(blobs.read(entry.sha), cfg, skipped)
            if text is None:
                continue
            files += 1
            examples += random_spans(entry.path, lang.name, text, cfg, rng)
    examples = dedupe(examples)
    if not examples:
        raise UserError(f"{repo.root} has no source files to learn from in the selected languages "
                        f"({', '.join(cfg.languages)}); check mine.languages")
    stats = {"commits": 1, "files": files, "train": len(examples), "heldout": 0, "skipped": skipped,
             "seconds": round(time.monotonic() - started, 3)}
    meta = {"repo": str(repo.root), "head": head, "config_hash": config_hash(cfg), "stats": stats}
    return Dataset(train=examples, heldout=[], meta=meta)


def _decode_source(data: bytes | None, cfg: MineConfig, skipped: dict[str, int]) -> str | None:
    """The file's text, or None (counted in `skipped` by reason) when it is not source worth learning."""
    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    if data is None:
        skip("unreadable")
        return None
    if len(data) > cfg.max_file_bytes:
        skip("too-large")
        return None
    if b"\0" in data[:8192]:
        skip("binary")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        skip("not-utf8")
        return None
    if any(len(line) > cfg.max_line_chars for line in text.splitlines()):
        skip("long-lines")
        return None
    if not text.strip():
        skip("empty")
        return None
    return text


def random_spans(path: str, language: str, text: str, cfg: MineConfig, rng: random.Random) -> list[Example]:
    """Random FIM examples over one file: whole-line spans and line endings, as a user would type them."""
    lines = text.splitlines(keepends=True)
    count = cfg.random_spans_per_file + len(lines) // 40
    out = []
    for _ in range(count):
        start = rng.randrange(len(lines))
        if rng.random() < 0.5:
            # The rest of a line from a point inside it.
            line = lines[start].rstrip("\n")
            if len(line.strip()) < 2:
                continue
            indent = len(line) - len(line.lstrip())
            cut = rng.randrange(indent, len(line))
            begin = sum(len(x) for x in lines[:start]) + cut
            end = begin + len(line) - cut
        else:
            n = rng.randint(1, min(cfg.max_middle_lines, len(lines) - start))
            begin = sum(len(x) for x in lines[:start])
            end = begin + sum(len(x) for x in lines[start:start + n])
        middle = text[begin:end]
        if not middle.strip():
            continue
        out.append(Example(path=path, language=language, prefix=text[max(0, begin - cfg.context_chars):begin],
                           middle=middle, suffix=text[end:end + cfg.context_chars], kind="random"))
    return out


def load_or_mine(repo: Repo, cfg: MineConfig, data_dir: Path, console: Console) -> Dataset:
    """The dataset for the repo's current HEAD and mining config: reused if already mined, else mined now."""
    head = repo.rev_parse(cfg.branch or "HEAD")
    meta = read_meta(data_dir)
    if meta and meta.get("head") == head and meta.get("config_hash") == config_hash(cfg):
        dataset = read_dataset(data_dir)
        console.print(f"dataset: reusing {data_dir} ({len(dataset.train)} train, {len(dataset.heldout)} held out)")
        return dataset
    dataset = mine(repo.root, cfg)
    write_dataset(data_dir, dataset)
    console.print(f"dataset: mined {len(dataset.train)} train and {len(dataset.heldout)} held-out examples "
                  f"in {dataset.meta['stats']['seconds']:.1f} s -> {data_dir}")
    return dataset
