"""Mining: a repository's git history turned into fill-in-the-middle examples of what its authors wrote.

Run it with `assistant mine --repo PATH [--stats]` (or as the first stage of `assistant train`). For each
commit (newest first; merges against their first parent) and each changed file that passes the filters
(`trainer.filters`), the text the author added becomes a middle (`trainer.middles`), with the file as it
stood after the commit around it and up to two snippets of the other files changed in that commit. Every
file version is scanned for credentials before any example is cut from it (`trainer.secrets`). Random
spans over the tree at the split point add coverage. Then `trainer.dedupe`, the time split and recency
weights (`trainer.split`), and the dataset dir (`trainer.examples`).

Two long-lived git processes do all the reading: one `git log --stdin -p` for the diffs of every commit
and one `git cat-file --batch` for file contents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from pathlib import Path

from rich.console import Console

from assistant.config import MineConfig
from assistant.errors import UserError
from assistant.languages import select
from assistant.modeldir import ensure_assistant_dir
from trainer.examples import Dataset, Example, config_hash, read_dataset, read_meta, write_dataset
from trainer.filters import PathRules, decode_source
from trainer.git import Blob, BlobReader, CommitInfo, Repo, Unreadable, iter_commit_diffs
from trainer.history import CommitDiff, Hunk
from trainer.middles import Cut, authored_cuts, line_starts, random_cuts, window
from trainer.mine_report import MineProgress, summarize
from trainer.secrets import Finding, overlapping, redact, scan_many, secret_file_kind
from trainer.snippet_index import SnippetIndex
from trainer.split import holdout_count

MINER_VERSION = 2
"""Part of the dataset's reuse key: a dataset mined by another version of this code is mined again."""
COMMITS_PER_BATCH = 32
"""Commits whose file contents are read from git in one batch."""
SNIPPETS_PER_EXAMPLE = 2
SNIPPET_FILES = 10
"""Files of a commit that are snippet material, the first in diff order (about as many as a user has open)."""


@dataclass
class Tally:
    """What mining saw, for the stats."""

    commits: int = 0
    file_versions: int = 0
    files: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)
    secrets: set[tuple[str, str]] = field(default_factory=set)
    """(kind, hash of the secret): each distinct secret counted once, never stored itself."""
    warnings: list[str] = field(default_factory=list)

    def add_secrets(self, text: str, findings: list[Finding]) -> None:
        for f in findings:
            self.secrets.add((f.kind, hashlib.sha256(text[f.start:f.end].encode()).hexdigest()))


@dataclass
class Version:
    """A file as it stood after a commit, ready to cut examples from."""

    path: str
    language: str
    text: str
    lines: list[str]
    """`text.split("\\n")`"""
    findings: list[Finding]

    @cached_property
    def starts(self) -> list[int]:
        """Line start offsets, computed only for files that give examples (not for snippet material alone)."""
        return line_starts(self.text, self.lines)


@dataclass
class Batch:
    """Commits whose files have been asked of git: per commit, the files to read and their hunks."""

    diffs: list[CommitDiff]
    plans: list[tuple[list[tuple[str, str, str]], dict[str, list[Hunk]]]]
    shas: list[str]


class Miner:
    """Turns file versions into examples, with the filters, the secret scan and the snippets."""

    def __init__(self, cfg: MineConfig, rules: PathRules, repo: Repo, blobs: BlobReader, tally: Tally) -> None:
        self.cfg, self.rules, self.repo, self.blobs, self.tally = cfg, rules, repo, blobs, tally

    def versions(self, files: list[tuple[str, str, bool]], count: bool = True) -> list[Version]:
        """The (path, blob id, git saw it as binary) files that pass every filter, read and scanned.

        Rejected files are counted by reason; `count=False` (the split-point snapshot, whose files the
        history has counted already) leaves the tally alone.
        """
        admitted = self._admit(files, count)
        shas = [sha for _, sha, _ in admitted]
        blobs = dict(zip(shas, self.blobs.read_many(shas, self.cfg.max_file_bytes), strict=True))
        return [v for v in self._load(admitted, blobs, count) if v is not None]

    def _admit(self, files: list[tuple[str, str, bool]], count: bool) -> list[tuple[str, str, str]]:
        """(path, blob id, language) of the files that pass the path filters."""
        admitted = []
        for path, sha, binary in files:
            reason, language = self._path_reason(path, binary)
            if language is not None:
                admitted.append((path, sha, language))
            elif count:
                self.tally.skipped[reason] += 1
        return admitted

    def _load(self, admitted: list[tuple[str, str, str]], blobs: dict[str, Blob], count: bool
              ) -> list[Version | None]:
        """For each admitted file, its version scanned for secrets, or None when its content is filtered out."""
        texts: list[str | None] = []
        for _, sha, _ in admitted:
            blob = blobs[sha]
            text, why = decode_source(blob.data, self.cfg) if blob.data is not None else \
                (None, "too-large" if blob.size > self.cfg.max_file_bytes else "unreadable")
            texts.append(text)
            if text is None and count:
                self.tally.skipped[why or "unreadable"] += 1
        present = [t for t in texts if t is not None]
        split = [t.split("\n") for t in present]
        found, lines = iter(scan_many(present, split)), iter(split)
        out: list[Version | None] = []
        for (path, _, lang), text in zip(admitted, texts, strict=True):
            if text is None:
                out.append(None)
                continue
            findings = next(found)
            self.tally.add_secrets(text, findings)
            if count:
                self.tally.file_versions += 1
                self.tally.files.add(path)
            out.append(Version(path, lang, text, next(lines), findings))
        return out

    def _path_reason(self, path: str, binary: bool) -> tuple[str, str | None]:
        """("", language) for a file to read, or (reason, None) for one skipped by its path alone."""
        kind = secret_file_kind(path)
        if kind is not None:
            self.tally.secrets.add((kind, path))
            return "secret-file", None
        reason, language = self.rules.verdict(path)
        if reason not in (None, "language"):
            return reason, None
        if binary:
            return "binary", None
        return ("", language) if language is not None else ("language", None)

    def example(self, v: Version, cut: Cut, commit: str, timestamp: int) -> Example | None:
        """The example for one middle, or None when its window holds a secret and secrets are dropped."""
        start, end = window(v.starts, cut, self.cfg.context_chars)
        hits = overlapping(v.findings, start, end)
        if hits and self.cfg.secrets == "drop":
            self.tally.skipped["secret"] += 1
            return None
        return Example(path=v.path, language=v.language, kind=cut.kind, commit=commit, timestamp=timestamp,
                       prefix=redact(v.text, hits, start, cut.begin),
                       middle=redact(v.text, hits, cut.begin, cut.end),
                       suffix=redact(v.text, hits, cut.end, end))

    def plan_batch(self, diffs: list[CommitDiff]) -> Batch:
        """Decide which files of these commits to read, and ask git for them (the answers come meanwhile)."""
        plans = [self._plan(diff) for diff in diffs]
        shas = [sha for admitted, _ in plans for _, sha, _ in admitted]
        self.blobs.request(shas, self.cfg.max_file_bytes)
        return Batch(diffs, plans, shas)

    def finish_batch(self, batch: Batch) -> list[list[Example]]:
        """The examples of each commit of a planned batch, once git has answered for its files."""
        blobs = dict(zip(batch.shas, self.blobs.receive(len(batch.shas)), strict=True))
        loaded = self._load([a for admitted, _ in batch.plans for a in admitted], blobs, True)
        out, pos = [], 0
        for diff, (admitted, hunks) in zip(batch.diffs, batch.plans, strict=True):
            versions = [v for v in loaded[pos:pos + len(admitted)] if v is not None]
            pos += len(admitted)
            out.append(self._commit_examples(diff, versions, hunks))
        return out

    def _plan(self, diff: CommitDiff) -> tuple[list[tuple[str, str, str]], dict[str, list[Hunk]]]:
        """The commit's files to read (past the path filters) and the hunks of each."""
        files, hunks = [], {}
        for change in diff.files:
            if change.submodule:
                self.tally.skipped["submodule"] += 1
            elif change.status != "deleted" and change.new_sha:
                files.append((change.path, change.new_sha, change.binary))
                hunks[change.path] = change.hunks
        return self._admit(files, True), hunks

    def _commit_examples(self, diff: CommitDiff, versions: list[Version], hunks: dict[str, list[Hunk]]
                         ) -> list[Example]:
        """Every example of one commit, each with snippets of the commit's other files."""
        docs = [d for d in (self.snippet_doc(v) for v in versions[:SNIPPET_FILES]) if d is not None]
        index = SnippetIndex(docs if len(versions) > 1 else [])
        out = []
        for v in versions:
            for cut in authored_cuts(v.text, v.starts, hunks[v.path], self.cfg.max_middle_lines):
                ex = self.example(v, cut, diff.sha, diff.timestamp)
                if ex is not None:
                    ex.snippets = self.snippets(index, ex.prefix, v.path)
                    out.append(ex)
        return out

    def snippet_doc(self, v: Version) -> tuple[str, str] | None:
        """A file as snippet material: without its secrets (redact) or not at all (drop)."""
        if not v.findings:
            return v.path, v.text
        return (v.path, redact(v.text, v.findings)) if self.cfg.secrets == "redact" else None

    def snippets(self, index: SnippetIndex, prefix: str, path: str) -> list[list[str]]:
        """The best windows of the commit's other files for this prefix, as the server would pick them.

        No scan here: a window is whole lines of a document that `snippet_doc` let through, each of them
        scanned with it (findings are per line, and a key block counts as a finding of its document).
        """
        return [[s.path, s.text] for s in index.rank(prefix, SNIPPETS_PER_EXAMPLE, exclude=path)]

    def snapshot_examples(self, commit: CommitInfo) -> list[Example]:
        """Random spans over the files in the tree of `commit` (the split point), for coverage."""
        if self.cfg.random_spans_per_file == 0:
            return []
        out = []
        for v in self.versions([(e.path, e.sha, False) for e in self.repo.ls_tree(commit.sha)], count=False):
            rng = random.Random(f"{self.cfg.seed}:{v.path}")
            for cut in random_cuts(v.text, self.cfg.random_spans_per_file, self.cfg.max_middle_lines, rng):
                ex = self.example(v, cut, commit.sha, commit.timestamp)
                if ex is not None:
                    out.append(ex)
        return out


def mine(repo_path: Path, cfg: MineConfig, console: Console | None = None) -> Dataset:
    """Mine the repository at `repo_path` into a dataset (nothing is written here)."""
    started = time.monotonic()
    repo = Repo.open(repo_path)
    ref = cfg.branch or "HEAD"
    head = repo.rev_parse(ref)
    rules = PathRules.load(repo.root, select(cfg.languages))
    commits = repo.rev_list(ref, since=cfg.since, until=cfg.until, max_count=cfg.max_commits,
                            first_parent=cfg.first_parent)
    if not commits:
        raise UserError(f"no commits of {ref} fall between --since {cfg.since or '-'} and --until {cfg.until or '-'};"
                        " widen the range")
    shallow = repo.shallow_commits()
    to_diff = [c.sha for c in commits if c.sha not in shallow]
    if not to_diff:
        raise UserError(f"{repo.root} is a shallow clone with {len(commits)} commit(s) and no history to diff; "
                        "fetch it with `git fetch --unshallow` and mine again")
    tally = Tally(skipped=Counter({"shallow-boundary": len(commits) - len(to_diff)} if shallow else {}))
    _warn_about_repo(repo, cfg, head, shallow, tally, console)

    held = holdout_count(len(commits), cfg.holdout_fraction, cfg.holdout_min_commits)
    heldout_shas = {c.sha for c in commits[:held]}
    split = commits[held]
    with BlobReader(repo) as blobs, MineProgress(console, len(to_diff)) as progress:
        miner = Miner(cfg, rules, repo, blobs, tally)
        examples = _history_examples(miner, iter_commit_diffs(repo, to_diff), heldout_shas, progress, console)
        examples += miner.snapshot_examples(split)
    dataset = summarize(examples, tally, commits, held, cfg, started)
    if not dataset.train:
        raise UserError(_nothing_to_learn(repo, cfg, tally, bool(dataset.heldout)))
    dataset.meta.update({"repo": str(repo.root), "head": head, "ref": ref, "config_hash": config_hash(cfg),
                         "rules_digest": rules.digest, "miner": MINER_VERSION, "warnings": tally.warnings,
                         "commit_range": _commit_range(commits, split)})
    return dataset


def _history_examples(miner: Miner, stream: Iterable[CommitDiff | Unreadable], heldout: set[str],
                      progress: MineProgress, console: Console | None) -> list[Example]:
    """The examples of every commit, a batch at a time: git reads one batch's files while the previous
    batch is turned into examples."""
    examples: list[Example] = []

    def finish(batch: Batch, size: int) -> None:
        for diff, found in zip(batch.diffs, miner.finish_batch(batch), strict=True):
            miner.tally.commits += 1
            for ex in found:
                ex.split = "heldout" if diff.sha in heldout else "train"
            examples.extend(found)
        progress.advance(size)

    ahead: tuple[Batch, int] | None = None
    for chunk in _batched(stream, COMMITS_PER_BATCH):
        for item in chunk:
            if isinstance(item, Unreadable):
                miner.tally.skipped["unreadable-commit"] += 1
                _warn(miner.tally, console, f"skipped commit {item.sha[:12]}: {item.message} "
                      "(run `git fsck --full` to find and repair damaged objects)")
        batch = miner.plan_batch([item for item in chunk if not isinstance(item, Unreadable)]), len(chunk)
        if ahead is not None:
            finish(*ahead)
        ahead = batch
    if ahead is not None:
        finish(*ahead)
    return examples


def _batched(items: Iterable[CommitDiff | Unreadable], n: int) -> Iterator[list[CommitDiff | Unreadable]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _warn(tally: Tally, console: Console | None, message: str) -> None:
    tally.warnings.append(message)
    if console is not None:
        console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)


def _warn_about_repo(repo: Repo, cfg: MineConfig, head: str, shallow: set[str], tally: Tally,
                     console: Console | None) -> None:
    if not cfg.branch and repo.is_detached():
        _warn(tally, console, f"HEAD is detached at {head[:12]}: mining the history behind it "
              "(pass --branch NAME to mine a branch instead)")
    if shallow:
        _warn(tally, console, f"{repo.root} is a shallow clone: its oldest {len(shallow)} commit(s) have no parent "
              "to diff against and are skipped; `git fetch --unshallow` gives the full history")
    links = repo.gitlinks(head)
    if links:
        _warn(tally, console, f"{len(links)} submodule(s) are not mined ({', '.join(links[:3])}); "
              "mine each one on its own with --repo PATH")


def _nothing_to_learn(repo: Repo, cfg: MineConfig, tally: Tally, has_heldout: bool) -> str:
    if has_heldout:
        return (f"every example of {repo.root} falls in the held-out commits; lower mine.holdout_fraction or "
                "mine.holdout_min_commits, or mine more history")
    top = ", ".join(f"{reason} {n}" for reason, n in tally.skipped.most_common(4)) or "none"
    return (f"nothing to learn from in {tally.commits} commit(s) of {repo.root} (skipped: {top}); "
            f"check mine.languages ({', '.join(cfg.languages)}), .assistantignore and the commit range")


def _commit_range(commits: list[CommitInfo], split: CommitInfo) -> dict[str, str]:
    date = dt.datetime.fromtimestamp(split.timestamp, dt.timezone.utc).isoformat()
    return {"first": commits[-1].sha, "last": commits[0].sha, "split_commit": split.sha, "split_date": date}


def load_or_mine(repo: Repo, cfg: MineConfig, data_dir: Path, console: Console, force: bool = False) -> Dataset:
    """The dataset for the repo's current HEAD and mining config: reused if already mined, else mined now."""
    head = repo.rev_parse(cfg.branch or "HEAD")
    rules = PathRules.load(repo.root, select(cfg.languages))
    meta = read_meta(data_dir)
    if (not force and meta and meta.get("head") == head and meta.get("config_hash") == config_hash(cfg)
            and meta.get("rules_digest") == rules.digest and meta.get("miner") == MINER_VERSION):
        dataset = read_dataset(data_dir)
        console.print(f"dataset: reusing {data_dir} ({len(dataset.train)} train, {len(dataset.heldout)} held out)")
        return dataset
    dataset = mine(repo.root, cfg, console)
    if data_dir.parent == repo.root / ".assistant":
        ensure_assistant_dir(repo.root)  # created only now: bad input leaves nothing behind
    write_dataset(data_dir, dataset)
    stats = dataset.meta["stats"]
    console.print(f"dataset: mined {len(dataset.train)} train and {len(dataset.heldout)} held-out examples "
                  f"from {stats['commits']} commits in {stats['seconds']:.1f} s ({stats['commits_per_second']:,.0f} "
                  f"commits/s) -> {data_dir}")
    return dataset
