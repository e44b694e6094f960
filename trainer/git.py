"""Reading a git repository through a few long-lived git processes.

`Repo.open` checks that a path is a usable repository (one clear error otherwise); `BlobReader` streams
object contents through one `git cat-file --batch` process instead of a process per file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from assistant.errors import UserError


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    sha: str
    path: str


class Repo:
    def __init__(self, root: Path, git_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir

    @classmethod
    def open(cls, path: Path) -> Repo:
        """The repository at `path` (its work tree root), or UserError: not a repo, bare, or no commits."""
        if not path.exists():
            raise UserError(f"{path} does not exist; pass --repo with the path of a git repository")
        proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--is-bare-repository", "--show-toplevel",
                               "--absolute-git-dir"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(f"{path} is not a git repository; pass --repo with a repository (or run `git init`)")
        lines = proc.stdout.splitlines()
        if lines and lines[0] == "true":
            raise UserError(f"{path} is a bare repository; clone it (`git clone {path} work`) and mine the clone")
        repo = cls(Path(lines[1]), Path(lines[2]))
        if repo.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).returncode != 0:
            raise UserError(f"{path} has no commits yet; commit some code first, then train")
        return repo

    def run(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, input=input)
        if check and proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UserError(f"git {args[0]} failed in {self.root}: {msg[0] if msg else 'no message'}")
        return proc

    def rev_parse(self, ref: str) -> str:
        return self.run("rev-parse", "--verify", f"{ref}^{{commit}}").stdout.decode().strip()

    def ls_tree(self, commit: str) -> list[TreeEntry]:
        """Every blob in the tree of `commit` (recursively); submodules and symlinks are left out."""
        out = self.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout.decode("utf-8", "surrogateescape")
        entries = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, _, path = record.partition("\t")
            mode, kind, sha = meta.split()
            if kind == "blob" and mode in ("100644", "100755"):
                entries.append(TreeEntry(mode, sha, path))
        return entries


class BlobReader:
    """Object contents through one long-lived `git cat-file --batch`; use as a context manager."""

    def __init__(self, repo: Repo) -> None:
        self._proc = subprocess.Popen(["git", "-C", str(repo.root), "cat-file", "--batch"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, sha: str) -> bytes | None:
        """The object's bytes, or None when it is missing or unreadable (e.g. a corrupt object)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(sha.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline()
        parts = header.split()
        if len(parts) != 3:  # "<sha> missing" or a broken stream
            return None
        size = int(parts[2])
        data = self._proc.stdout.read(size)
        self._proc.stdout.read(1)  # the newline after the contents
        return data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
