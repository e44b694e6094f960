"""Turning file versions into examples: the filters, the secret scan, the cuts and the snippets.

`trainer.mining.mine` streams the history and hands this module batches of commits. The work has two sides:
- `Miner` (in the process that talks to git): which files of each commit to read (path filters), asking
  git for them, and the random spans of the split-point snapshot;
- `Cutter` (file contents in, examples out, no git, so it can run in a worker process): content filters,
  secret scan, middles, snippets.
`Tally` keeps what was seen and skipped for the stats; a worker's tally is merged into the main one.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from assistant.config import MineConfig
from assistant.snippets import SnippetIndex
from trainer.mining.examples import Example
from trainer.mining.filters import PathRules, Source, decode_source
from trainer.mining.git import Blob, BlobReader, CommitInfo, Repo
from trainer.mining.history import CommitDiff, Hunk
from trainer.mining.middles import Cut, authored_cuts, line_starts, random_cuts, window
from trainer.mining.secrets import Finding, overlapping, redact, scan_many, secret_file_kind

SNIPPETS_PER_EXAMPLE = 2
SNIPPET_FILES = 10
"""Files of a commit that are snippet material, the first in diff order (about as many as a user has open)."""

Admitted = tuple[str, str, str]
"""(path, blob id, language) of a file past the path filters."""


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

    def merge(self, other: Tally) -> None:
        """Add what a worker saw (its counts, files and secrets) to this tally."""
        self.commits += other.commits
        self.file_versions += other.file_versions
        self.files |= other.files
        self.skipped.update(other.skipped)
        self.secrets |= other.secrets
        self.warnings += other.warnings


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
    """Commits whose files have been asked of git: per commit, its id and time, the files to read and
    the hunks of each."""

    commits: list[tuple[str, int]]
    plans: list[tuple[list[Admitted], dict[str, list[Hunk]]]]
    shas: list[str]


class Cutter:
    """File contents in, examples out: content filters, secret scan, middles and snippets."""

    def __init__(self, cfg: MineConfig, tally: Tally) -> None:
        self.cfg, self.tally = cfg, tally

    def batch_examples(self, batch: Batch, blobs: dict[str, Blob]) -> list[list[Example]]:
        """The examples of each commit of a batch, given the contents of its files."""
        loaded = self.load([a for admitted, _ in batch.plans for a in admitted], blobs, True)
        out, pos = [], 0
        for (sha, timestamp), (admitted, hunks) in zip(batch.commits, batch.plans, strict=True):
            versions = [v for v in loaded[pos:pos + len(admitted)] if v is not None]
            pos += len(admitted)
            out.append(self.commit_examples(sha, timestamp, versions, hunks))
        return out

    def load(self, admitted: list[Admitted], blobs: dict[str, Blob], count: bool) -> list[Version | None]:
        """For each admitted file, its version scanned for secrets, or None when its content is filtered out.

        `count=False` (the split-point snapshot, whose files the history has counted already) leaves the
        tally's file counts alone.
        """
        sources: list[Source | None] = []
        for _, sha, _ in admitted:
            blob = blobs[sha]
            decoded = decode_source(blob.data, self.cfg) if blob.data is not None else \
                "too-large" if blob.size > self.cfg.max_file_bytes else "unreadable"
            sources.append(decoded if isinstance(decoded, Source) else None)
            if isinstance(decoded, str) and count:
                self.tally.skipped[decoded] += 1
        present = [s for s in sources if s is not None]
        found = iter(scan_many([s.text for s in present], [s.lines for s in present]))
        out: list[Version | None] = []
        for (path, _, lang), source in zip(admitted, sources, strict=True):
            if source is None:
                out.append(None)
                continue
            findings = next(found)
            self.tally.add_secrets(source.text, findings)
            if count:
                self.tally.file_versions += 1
                self.tally.files.add(path)
            out.append(Version(path, lang, source.text, source.lines, findings))
        return out

    def example(self, v: Version, cut: Cut, commit: str, timestamp: int) -> Example | None:
        """The example for one middle, or None when its window holds a secret and secrets are dropped."""
        start, end = window(v.starts, cut, self.cfg.context_chars)
        hits = overlapping(v.findings, start, end) if v.findings else []
        if hits and self.cfg.secrets == "drop":
            self.tally.skipped["secret"] += 1
            return None
        return Example(path=v.path, language=v.language, kind=cut.kind, commit=commit, timestamp=timestamp,
                       prefix=redact(v.text, hits, start, cut.begin),
                       middle=redact(v.text, hits, cut.begin, cut.end),
                       suffix=redact(v.text, hits, cut.end, end))

    def commit_examples(self, sha: str, timestamp: int, versions: list[Version], hunks: dict[str, list[Hunk]]
                        ) -> list[Example]:
        """Every example of one commit, each with snippets of the commit's other files."""
        docs = [d for d in (self.snippet_doc(v) for v in versions[:SNIPPET_FILES]) if d is not None] \
            if len(versions) > 1 else []
        index = SnippetIndex([(path, text) for path, text, _ in docs], [split for _, _, split in docs])
        out = []
        for v in versions:
            for cut in authored_cuts(v.text, v.starts, hunks[v.path], self.cfg.max_middle_lines):
                ex = self.example(v, cut, sha, timestamp)
                if ex is not None:
                    ex.snippets = self.snippets(index, ex.prefix, v.path)
                    out.append(ex)
        return out

    def snippet_doc(self, v: Version) -> tuple[str, str, list[str] | None] | None:
        """A file as snippet material (path, text, its lines when unchanged): without its secrets (redact)
        or not at all (drop)."""
        if not v.findings:
            return v.path, v.text, v.lines
        return (v.path, redact(v.text, v.findings), None) if self.cfg.secrets == "redact" else None

    def snippets(self, index: SnippetIndex, prefix: str, path: str) -> list[list[str]]:
        """The best windows of the commit's other files for this prefix, as the server would pick them.

        No scan here: a window is whole lines of a document that `snippet_doc` let through, each of them
        scanned with it (findings are per line, and a key block counts as a finding of its document).
        """
        return [[s.path, s.text] for s in index.rank(prefix, SNIPPETS_PER_EXAMPLE, exclude=path)]


class Miner:
    """The side that talks to git: which files to read, asking for them, the split-point snapshot."""

    def __init__(self, cfg: MineConfig, rules: PathRules, repo: Repo, blobs: BlobReader, tally: Tally) -> None:
        self.cfg, self.rules, self.repo, self.blobs, self.tally = cfg, rules, repo, blobs, tally
        self.cutter = Cutter(cfg, tally)

    def plan_batch(self, diffs: list[CommitDiff]) -> Batch:
        """Decide which files of these commits to read, and ask git for them (the answers come meanwhile)."""
        plans = [self._plan(diff) for diff in diffs]
        shas = [sha for admitted, _ in plans for _, sha, _ in admitted]
        self.blobs.request(shas, self.cfg.max_file_bytes)
        return Batch([(d.sha, d.timestamp) for d in diffs], plans, shas)

    def receive(self, batch: Batch) -> dict[str, Blob]:
        """The contents of a planned batch's files, once git has answered."""
        return dict(zip(batch.shas, self.blobs.receive(len(batch.shas)), strict=True))

    def _plan(self, diff: CommitDiff) -> tuple[list[Admitted], dict[str, list[Hunk]]]:
        """The commit's files to read (past the path filters) and the hunks of each."""
        files, hunks = [], {}
        for change in diff.files:
            if change.submodule:
                self.tally.skipped["submodule"] += 1
            elif change.status != "deleted" and change.new_sha:
                files.append((change.path, change.new_sha, change.binary))
                hunks[change.path] = change.hunks
        return self._admit(files, True), hunks

    def _admit(self, files: list[tuple[str, str, bool]], count: bool) -> list[Admitted]:
        """The (path, blob id, git saw it as binary) files that pass the path filters, with their language."""
        admitted = []
        for path, sha, binary in files:
            reason, language = self._path_reason(path, binary)
            if language is not None:
                admitted.append((path, sha, language))
            elif count:
                self.tally.skipped[reason] += 1
        return admitted

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

    def snapshot_examples(self, commit: CommitInfo) -> list[Example]:
        """Random spans over the files in the tree of `commit` (the split point), for coverage."""
        if self.cfg.random_spans_per_file == 0:
            return []
        admitted = self._admit([(e.path, e.sha, False) for e in self.repo.ls_tree(commit.sha)], False)
        shas = [sha for _, sha, _ in admitted]
        blobs = dict(zip(shas, self.blobs.read_many(shas, self.cfg.max_file_bytes), strict=True))
        out = []
        for v in self.cutter.load(admitted, blobs, False):
            if v is None:
                continue
            rng = random.Random(f"{self.cfg.seed}:{v.path}")
            for cut in random_cuts(v.text, self.cfg.random_spans_per_file, self.cfg.max_middle_lines, rng):
                ex = self.cutter.example(v, cut, commit.sha, commit.timestamp)
                if ex is not None:
                    out.append(ex)
        return out
