"""Reading a git repository through a few long-lived git processes.

`Repo.open` checks that a path is a usable repository (one clear error otherwise); `BlobReader` streams
object contents through one `git cat-file --batch` process instead of a process per file;
`iter_commit_diffs` streams the diffs of a whole list of commits through one `git log --stdin -p`, and
steps over a commit git cannot read (a corrupt object) instead of giving up on the rest of the history.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assistant.errors import UserError
from trainer.mining.blobs import Blob as Blob  # re-exported: the blob reader's home was this module
from trainer.mining.blobs import BlobReader as BlobReader
from trainer.mining.blobs import enlarge_pipe
from trainer.mining.history import LOG_FORMAT, CommitDiff, parse_log


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    sha: str
    path: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    timestamp: int
    """Commit time, Unix seconds."""
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Unreadable:
    """A commit whose diff git could not produce (e.g. a corrupt object), with git's own message."""

    sha: str
    message: str


class Repo:
    def __init__(self, root: Path, git_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir

    @classmethod
    def open(cls, path: Path) -> Repo:
        """The repository at `path` (its work tree root), or UserError: not a repo, bare, or no commits."""
        if not path.exists():
            raise UserError(f"{path} does not exist; pass --repo with the path of a git repository")
        def rev_parse(*args: str) -> list[str] | None:
            proc = subprocess.run(["git", "-C", str(path), "rev-parse", *args], capture_output=True, text=True)
            return proc.stdout.splitlines() if proc.returncode == 0 else None

        # Bare first: --show-toplevel fails in a bare repository, which is a repository all the same.
        kind = rev_parse("--is-bare-repository", "--absolute-git-dir")
        if kind is None:
            raise UserError(f"{path} is not a git repository; pass --repo with a repository (or run `git init`)")
        if kind[0] == "true":
            raise UserError(f"{path} is a bare repository; clone it (`git clone {path} work`) and mine the clone")
        top = rev_parse("--show-toplevel")
        if not top:
            raise UserError(f"{path} is inside a git directory, not a work tree; pass --repo with the work tree")
        repo = cls(Path(top[0]), Path(kind[1]))
        if repo.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).returncode != 0:
            raise UserError(f"{path} has no commits yet; commit some code first, then train")
        return repo

    def run(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, input=input)
        if check and proc.returncode != 0:
            raise UserError(f"git {args[0]} failed in {self.root}: {first_line(proc.stderr)}")
        return proc

    def rev_parse(self, ref: str) -> str:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise UserError(f"{ref!r} is not a branch, tag or commit of {self.root}; "
                            "`git branch -a` lists the branches (use --branch NAME)")
        return proc.stdout.decode().strip()

    def ls_tree(self, commit: str) -> list[TreeEntry]:
        """Every blob in the tree of `commit` (recursively); submodules and symlinks are left out."""
        return [e for e in self._tree(commit) if e.mode in ("100644", "100755")]

    def gitlinks(self, commit: str) -> list[str]:
        """Paths of the submodules in the tree of `commit`."""
        return [e.path for e in self._tree(commit) if e.mode == "160000"]

    def _tree(self, commit: str) -> list[TreeEntry]:
        out = self.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout.decode("utf-8", "surrogateescape")
        entries = []
        for record in out.split("\0"):
            if record:
                meta, _, path = record.partition("\t")
                mode, _kind, sha = meta.split()
                entries.append(TreeEntry(mode, sha, path))
        return entries

    def is_detached(self) -> bool:
        return self.run("symbolic-ref", "--quiet", "HEAD", check=False).returncode != 0

    def shallow_commits(self) -> set[str]:
        """The commits where a shallow clone's history was cut (their parents are not in the repository)."""
        path = self.git_dir / "shallow"
        return set(path.read_text().split()) if path.is_file() else set()

    def date_seconds(self, text: str, option: str) -> int:
        """What git makes of a date (`--since`-style), or UserError when it makes nothing of it."""
        out = self.run("rev-parse", f"--since={text}").stdout.decode().strip()
        seconds = int(out.partition("=")[2] or 0)
        # git reads anything it cannot parse as "now": a date within seconds of now that does not say so is a typo.
        if abs(seconds - time.time()) < 5 and "now" not in text.lower():
            raise UserError(f"{option} {text!r} is not a date git understands; use e.g. 2024-01-31 or '6 months ago'")
        return seconds

    def rev_list(self, ref: str, *, since: str = "", until: str = "", max_count: int = 0,
                 first_parent: bool = False) -> list[CommitInfo]:
        """The commits to mine, newest first, never a parent before its children (`--date-order`)."""
        args = ["rev-list", "--date-order", "--timestamp", "--parents"]
        if since:
            args.append(f"--max-age={self.date_seconds(since, '--since')}")
        if until:
            args.append(f"--min-age={self.date_seconds(until, '--until')}")
        if max_count:
            args.append(f"--max-count={max_count}")
        if first_parent:
            args.append("--first-parent")
        proc = self.run(*args, ref, "--", check=False)
        if proc.returncode != 0:
            raise UserError(f"git cannot walk the history of {ref} in {self.root} ({first_line(proc.stderr)}); "
                            "run `git fsck --full` to find and repair the damaged objects")
        commits = []
        for line in proc.stdout.decode().splitlines():
            ts, sha, *parents = line.split()
            commits.append(CommitInfo(sha, int(ts), tuple(parents)))
        return commits


def first_line(stderr: bytes) -> str:
    """The most telling line of git's stderr (its `fatal:` line when there is one)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("fatal:")]
    return (fatal or lines or ["no message"])[0]


# Everything that a user's git config could change about the diff text is pinned here.
LOG_ARGS = ("-c", "core.quotePath=true", "log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, "--patch",
            "--unified=0", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
            "--src-prefix=a/", "--dst-prefix=b/", "--find-renames", "--find-copies",
            "--diff-merges=first-parent", "--diff-algorithm=histogram", "--no-show-signature")


class _LogRun:
    """One `git log` over `shas` (in that order); iterate it for the commits, then read `returncode`."""

    def __init__(self, repo: Repo, shas: list[str]) -> None:
        # A file, not a pipe, for stderr: nobody reads it while git runs, and a full pipe would stall git.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the iteration ends
        self.proc = subprocess.Popen(["git", "-C", str(repo.root), *LOG_ARGS], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        enlarge_pipe(self.proc.stdout.fileno())  # git runs up to a pipe's worth ahead of the parsing
        # `git log --stdin` reads the whole list before it writes anything: no risk of both pipes filling.
        with contextlib.suppress(BrokenPipeError):  # git died first; its stderr says why
            self.proc.stdin.write("".join(f"{sha}\n" for sha in shas).encode())
            self.proc.stdin.close()
        self.returncode: int | None = None
        self.message = ""
        """git's own explanation (its `fatal:` line) when it failed."""

    def __iter__(self) -> Iterator[CommitDiff]:
        assert self.proc.stdout is not None
        try:
            yield from parse_log(_lines(self.proc.stdout.fileno()))
        finally:
            if self.proc.poll() is None:  # stopped early: git would wait for a reader forever
                self.proc.kill()
            self.proc.stdout.close()
            self.returncode = self.proc.wait()
            self._stderr.seek(0)
            self.message = first_line(self._stderr.read())
            self._stderr.close()


def _lines(fd: int) -> Iterator[bytes]:
    """The lines (without their "\\n") of a pipe's output, read as it comes."""
    rest = b""
    while chunk := os.read(fd, 1 << 20):  # what is there, up to 1 MiB: no waiting for a full buffer
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def iter_commit_diffs(repo: Repo, shas: list[str]) -> Iterator[CommitDiff | Unreadable]:
    """The diff of each commit in `shas` (merges against their first parent), in order.

    When git dies on a commit (a corrupt or missing object) that commit comes out as `Unreadable` and the
    stream goes on from the next one. The last commit before the failure may be cut short, so it is
    checked alone: git may fail on a commit before or after printing its header.
    """
    pos = 0
    while pos < len(shas):
        run = _LogRun(repo, shas[pos:])
        done, pending = pos, None
        for diff in run:
            if pending is not None:
                yield pending
                done += 1
            pending = diff
        if run.returncode == 0:
            if pending is not None:
                yield pending
            return
        bad = done
        if pending is not None:
            alone = _LogRun(repo, [shas[done]])
            whole = list(alone)
            if alone.returncode == 0 and whole:
                yield whole[0]
                bad = done + 1
        if bad < len(shas):
            yield Unreadable(shas[bad], run.message)
        pos = bad + 1
