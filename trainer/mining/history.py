"""Parsing the `git log -p -U0` stream into commits and the files each one changed.

`trainer.mining.git.iter_commit_diffs` runs one long-lived `git log` and feeds its output here line by line. The
stream is git's own unified diff with zero context lines (`-U0`), so every hunk is one change: the lines it
removes, then the lines it adds. Commits are separated by a header line that starts with a NUL byte (it
cannot start a diff line), written by `--format=%x00%H %ct %P`.

Only what mining needs is kept: the file's path after the commit, its new blob id, what kind of change it
was, whether git saw it as binary or as a submodule, and per hunk the new line range plus the removed lines
(to tell an edit inside a line from a rewritten line). The added text itself is read from the new blob.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

COMMIT_MARK = b"\0"
LOG_FORMAT = "--format=%x00%H %ct %P"
SUBMODULE_MODE = "160000"

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12, ord("r"): 13,
            ord('"'): 34, ord("\\"): 92}


@dataclass
class Hunk:
    """One change: `removed` old lines replaced by `new_count` lines starting at `new_start` (1-based)."""

    new_start: int
    new_count: int
    removed: list[bytes] = field(default_factory=list)


@dataclass
class FileChange:
    path: str
    """The path after the commit (the old path for a deleted file)."""
    status: str = "modified"
    """'added', 'modified', 'deleted', 'renamed', 'copied' or 'mode' (only the file mode changed)."""
    old_path: str = ""
    new_sha: str = ""
    new_mode: str = ""
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def submodule(self) -> bool:
        return self.new_mode == SUBMODULE_MODE

    @property
    def has_additions(self) -> bool:
        return any(h.new_count for h in self.hunks)


@dataclass
class CommitDiff:
    sha: str
    timestamp: int
    parents: tuple[str, ...]
    files: list[FileChange] = field(default_factory=list)


def unquote_path(raw: bytes) -> str:
    """A path as git prints it: plain, or C-quoted ("a\\tb", octal bytes) when it has unusual characters."""
    raw = raw.rstrip(b"\t")  # git ends `---`/`+++` names that contain spaces with a tab
    if len(raw) < 2 or not (raw.startswith(b'"') and raw.endswith(b'"')):
        return raw.decode("utf-8", "surrogateescape")
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == 92 and i + 1 < len(body):  # backslash
            octal = body[i + 1:i + 4]
            if len(octal) == 3 and all(48 <= b <= 55 for b in octal):  # \ooo: one raw byte of a UTF-8 name
                out.append(int(octal, 8))
                i += 4
                continue
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out).decode("utf-8", "surrogateescape")


def _strip_prefix(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.startswith(prefix) else path


def header_path(line: bytes) -> str:
    """The new path from `diff --git a/X b/Y`, when it can be read without ambiguity (else "")."""
    rest = line[len(b"diff --git "):]
    if rest.startswith(b'"'):
        end = rest.find(b'" ', 1)
        return _strip_prefix(unquote_path(rest[end + 2:]), "b/") if end > 0 else ""
    n = (len(rest) - 5) // 2  # "a/P b/P": both sides equal unless the file was renamed or copied
    if n > 0 and rest[2 + n:5 + n] == b" b/" and rest[2:2 + n] == rest[5 + n:]:
        return rest[5 + n:].decode("utf-8", "surrogateescape")
    return ""


def parse_log(lines: Iterable[bytes]) -> Iterator[CommitDiff]:
    """Commits from the stream, each yielded once the next header (or the end) shows it is complete."""
    commit: CommitDiff | None = None
    change: FileChange | None = None
    hunk: Hunk | None = None
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        first = line[:1]
        if hunk is not None and first in (b"+", b"-", b" ", b"\\"):  # most lines: inside a hunk
            if first == b"-":
                hunk.removed.append(line[1:])
            continue
        if line.startswith(COMMIT_MARK):
            if commit is not None:
                yield commit
            sha, ts, *parents = line[1:].decode("ascii").split()
            commit, change, hunk = CommitDiff(sha, int(ts), tuple(parents)), None, None
        elif commit is None:
            continue
        elif line.startswith(b"diff --git "):
            change, hunk = FileChange(path=header_path(line)), None
            commit.files.append(change)
        elif change is None:
            continue
        elif line.startswith(b"@@"):
            hunk = _parse_hunk_header(line)
            if hunk is not None:
                change.hunks.append(hunk)
        else:
            _apply_header(change, line)
    if commit is not None:
        yield commit


def _parse_hunk_header(line: bytes) -> Hunk | None:
    m = _HUNK.match(line)
    if m is None:
        return None
    count = m.group(4)
    return Hunk(new_start=int(m.group(3)), new_count=1 if count is None else int(count))


def _apply_header(change: FileChange, line: bytes) -> None:
    """One extended header line of a file's diff (mode, rename, index, names, binary)."""
    if line.startswith(b"new file mode "):
        change.status, change.new_mode = "added", line[14:].decode()
    elif line.startswith(b"deleted file mode "):
        change.status, change.new_mode = "deleted", line[18:].decode()
    elif line.startswith(b"new mode "):
        change.new_mode = line[9:].decode()
        if change.status == "modified":
            change.status = "mode"
    elif line.startswith((b"rename to ", b"copy to ")):
        kind, _, path = line.partition(b" to ")
        change.status = "renamed" if kind == b"rename" else "copied"
        change.path = unquote_path(path)
    elif line.startswith((b"rename from ", b"copy from ")):
        change.old_path = unquote_path(line.partition(b" from ")[2])
    elif line.startswith(b"index "):
        ids, _, mode = line[6:].partition(b" ")
        change.new_sha = ids.partition(b"..")[2].decode()
        if mode:
            change.new_mode = mode.decode()
        if change.status == "mode":
            change.status = "modified"  # the content changed too
    elif line.startswith(b"+++ ") and line != b"+++ /dev/null":
        change.path = _strip_prefix(unquote_path(line[4:]), "b/")
    elif line.startswith(b"Binary files "):
        change.binary = True
