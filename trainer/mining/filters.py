"""Which files are worth learning from: the mining filters, each one a named reason counted in the stats.

A file version is counted under the first reason that rejects it. Path rules come first (no blob read):

    ignored     matched by `.assistantignore` (gitignore syntax, at the repository root)
    vendored    inside node_modules/, vendor/, third_party/, site-packages/, ... or `linguist-vendored`
    generated   lock files, protobuf and similar output, `linguist-generated` in .gitattributes
    minified    *.min.js, *.min.css and the like
    binary      git shows the change as binary
    language    not a file of the selected languages (mine.languages)

then the content of the version, read through `git cat-file`:

    too-large   over mine.max_file_bytes (skipped over without decoding)
    binary      a NUL byte in the first 8000 bytes
    not-utf8    not valid UTF-8
    empty       nothing but whitespace
    generated   a "generated ... do not edit" (or "@generated") marker in the first 1000 characters
    minified    lines that average more than 250 characters
    long-line   a line over mine.max_line_chars

`.assistantignore` and `.gitattributes` are read from the work tree, so a change to them applies at the
next mining without a commit (`PathRules.digest` is part of the dataset's reuse key).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pathspec

from assistant.config import MineConfig
from assistant.languages import language_of

IGNORE_FILE = ".assistantignore"
ATTRIBUTES_FILE = ".gitattributes"

VENDORED_DIRS = frozenset({"node_modules", "bower_components", "jspm_packages", "vendor", "vendors", "third_party",
                           "third-party", "thirdparty", "site-packages", "dist-packages", ".venv", "venv",
                           "Pods", "Carthage", "__pypackages__"})
LOCK_FILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
                        "Cargo.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "composer.lock",
                        "Gemfile.lock", "go.sum", "flake.lock", "mix.lock", "pubspec.lock", "Podfile.lock",
                        "packages.lock.json", "gradle.lockfile"})
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go", ".pb.cc", ".pb.h", ".pb.swift", ".g.dart",
                      ".freezed.dart", ".designer.cs", ".generated.ts", ".generated.js")
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.css", "-min.js", ".bundle.js", ".min.map")

_GENERATED_HEADER = re.compile(r"(?is)\bgenerated\b.{0,200}?\b(?:do not|don't|must not) (?:edit|modify)|@generated\b")
HEADER_CHARS = 1000
"""How far into a file a "generated ... do not edit" marker is looked for."""
MINIFIED_MEAN_LINE = 250
"""Average characters per line above which a file is taken for minified code."""


@dataclass(frozen=True)
class _AttrRule:
    spec: pathspec.GitIgnoreSpec
    attribute: str
    value: bool


class PathRules:
    """Path-only filters for one mining run: ignore file, vendored and generated names, languages."""

    def __init__(self, ignore_lines: list[str], attribute_lines: list[str], languages: set[str]) -> None:
        self.ignore = pathspec.GitIgnoreSpec.from_lines(ignore_lines)
        self.attributes = _parse_attributes(attribute_lines)
        self.languages = languages
        text = "\n".join([*ignore_lines, "\0", *attribute_lines])
        self.digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        # A path's verdict never changes within a run, and a history visits the same paths again and again.
        self._verdicts: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def load(cls, root: Path, languages: set[str]) -> PathRules:
        return cls(_read_lines(root / IGNORE_FILE), _read_lines(root / ATTRIBUTES_FILE), languages)

    def verdict(self, path: str) -> tuple[str | None, str | None]:
        """(reason, None) for a path skipped by these rules, or (None, language) for one to read."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            reason = self.reason(path)
            language = None if reason else self.language(path)
            verdict = self._verdicts[path] = (reason or (None if language else "language"), language)
        return verdict

    def reason(self, path: str) -> str | None:
        """Why the file at `path` is skipped before its content is read, or None."""
        *dirs, name = path.split("/")
        if self.ignore.match_file(path):
            return "ignored"
        vendored = self._attribute(path, "linguist-vendored")
        if vendored or (vendored is None and VENDORED_DIRS.intersection(dirs)):
            return "vendored"
        generated = self._attribute(path, "linguist-generated")
        if generated or (generated is None and (name in LOCK_FILES or name.endswith(GENERATED_SUFFIXES))):
            return "generated"
        if name.endswith(MINIFIED_SUFFIXES):
            return "minified"
        return None

    def language(self, path: str) -> str | None:
        """The file's language when it is one of the selected ones, else None."""
        lang = language_of(path)
        return lang.name if lang is not None and lang.name in self.languages else None

    def _attribute(self, path: str, name: str) -> bool | None:
        """The attribute's value for `path` (the last matching line wins), or None when no line sets it."""
        value = None
        for rule in self.attributes:
            if rule.attribute == name and rule.spec.match_file(path):
                value = rule.value
        return value


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except (FileNotFoundError, IsADirectoryError):
        return []


def _parse_attributes(lines: list[str]) -> list[_AttrRule]:
    """The linguist-vendored / linguist-generated lines of a .gitattributes file."""
    rules = []
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        spec = pathspec.GitIgnoreSpec.from_lines([fields[0]])
        for attr in fields[1:]:
            name, _, value = attr.lstrip("-!").partition("=")
            if name in ("linguist-vendored", "linguist-generated"):
                on = not attr.startswith(("-", "!")) and value.lower() not in ("false", "0")
                rules.append(_AttrRule(spec, name, on))
    return rules


@dataclass(frozen=True)
class Source:
    """A file's text, and its lines as git counts them (split on "\\n" only)."""

    text: str
    lines: list[str]


def decode_source(data: bytes, cfg: MineConfig) -> Source | str:
    """The file when it is worth learning from, else the reason it is not. `data` is at most max_file_bytes."""
    if b"\0" in data[:8000]:
        return "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not-utf8"
    lines = text.split("\n")
    return content_reason(text, lines, cfg.max_line_chars) or Source(text, lines)


def content_reason(text: str, lines: list[str], max_line_chars: int) -> str | None:
    """Why decoded `text` (split into `lines`) is not worth learning from, or None."""
    if not text or text.isspace():  # as `not text.strip()`, without copying the text
        return "empty"
    head = text[:HEADER_CHARS]
    if "generated" in head.lower() and _GENERATED_HEADER.search(head):  # the plain test first: it is cheap
        return "generated"
    n_lines = len(lines) - (lines[-1] == "")  # a final newline ends a line, it starts none
    if len(text) > 2 * MINIFIED_MEAN_LINE and len(text) / n_lines > MINIFIED_MEAN_LINE:
        return "minified"
    if max(map(len, lines)) > max_line_chars:
        return "long-line"
    return None
