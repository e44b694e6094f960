"""Credentials never reach a training example: find them, then drop or redact what holds them.

`scan(text)` returns every secret found in a text as a `Finding` (kind and character span). The miner scans
each file version once, whole, before cutting examples from it, so that a secret is seen even when an
example's window holds only part of it (a private key block whose BEGIN line lies outside the prefix);
then an example whose window overlaps a finding is dropped (`mine.secrets = "drop"`, the default) or has
the secret replaced by `REDACTED` (`"redact"`). Snippets of other files get the same treatment.

Kinds: aws-access-key-id, aws-secret-access-key, gcp-service-account, github-token, gitlab-token,
slack-token, slack-webhook, stripe-key, private-key, jwt, connection-string, password-assignment,
env-assignment, high-entropy-string; and by file name: env-file (.env), key-file (*.pem, id_rsa, ...).
A secret is never printed: reports carry kinds and counts, and `preview` shows at most four characters.

Try it on a file: `python -m trainer.mining.secrets PATH` prints the kinds and previews it finds.
"""

from __future__ import annotations

import bisect
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate, chain, filterfalse, repeat
from operator import add
from pathlib import Path, PurePosixPath

REDACTED = "REDACTED"


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    """The group holding the secret itself (0: the whole match)."""
    word_start: bool = False
    """The match must not follow a letter or digit. Checked here rather than with a leading `\\b`, which
    would stop the regex engine from jumping straight to the literal the pattern starts with."""
    labels_allowed: bool = False
    """A plain lowercase word or an UPPER_CASE name as the value is taken for a label, not a secret
    (`"secret": "examples"`, `password = "DB_PASSWORD"`)."""
    before: re.Pattern[str] | None = None
    """What the text just before the match must end with. Patterns start at a rare literal (`://`, an
    assignment operator) and look back for the rest: one that starts with a name or a scheme is tried at
    every character, a hundred times slower."""


_SECRET_NAME = (r"(?:password|passwd|passphrase|pwd|secret|secret[_-]?key|client[_-]?secret|api[_-]?key|apikey|"
                r"access[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|api[_-]?token|refresh[_-]?token|"
                r"bearer[_-]?token|session[_-]?token|credentials?)")
_ENV_NAME = r"[A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)"

# A private key block spans lines: its BEGIN and END lines are found per line and joined by `scan`.
_KEY_BEGIN = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")

# In priority order: where two findings overlap, the earlier rule names it. No rule matches across a line
# end (`[ \t]`, never `\s`, between tokens): `scan` runs them over many lines joined at once.
RULES: tuple[_Rule, ...] = (
    _Rule("gcp-service-account", re.compile(r'"private_key_id"[ \t]*:[ \t]*"([0-9a-f]{32,})"'), 1),
    _Rule("gcp-service-account", re.compile(r'"type"[ \t]*:[ \t]*"(service_account)"'), 1),
    _Rule("aws-access-key-id", re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}\b"), word_start=True),
    _Rule("aws-secret-access-key", re.compile(r"(?i)aws.{0,20}?(?:secret|private).{0,20}?[=:][ \t]*[\"']?"
                                              r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"), 1),
    _Rule("github-token", re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
          word_start=True),
    _Rule("gitlab-token", re.compile(r"gl(?:pat|dt|rt|ptt|ft|cbt)-[A-Za-z0-9_\-]{20,}"), word_start=True),
    _Rule("slack-token", re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}"), word_start=True),
    _Rule("slack-webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}")),
    _Rule("stripe-key", re.compile(r"k_(?:live|test)_[A-Za-z0-9]{16,}\b"),
          before=re.compile(r"(?<![A-Za-z0-9])[sr]\Z")),
    _Rule("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), word_start=True),
    _Rule("connection-string", re.compile(r"://[^\s:/@\"'<>]+:([^\s@\"'<>/]{3,})@[^\s\"'<>]+"), 1,
          before=re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9+.-]{1,20}\Z")),
    _Rule("password-assignment", re.compile(r"(?::=|=>|=|:)[ \t]*([\"'])([^\"'\s]{4,})\1"), 2, labels_allowed=True,
          before=re.compile(rf"(?i){_SECRET_NAME}(?![A-Za-z0-9])[\"']?[ \t]*\Z")),
    # Unquoted values (.env style, Dockerfile ENV, shell export) only when they mix letters and digits:
    # `API_TOKEN = settings.token` or `MAX_TOKENS = 4096` are code, not credentials.
    _Rule("env-assignment", re.compile(rf"(?m)^[ \t]*(?:export[ \t]+|ENV[ \t]+)?{_ENV_NAME}[A-Z0-9_]*[ \t]*="
                                       r"[ \t]*((?=\S*\d)(?=\S*[A-Za-z])[A-Za-z0-9_\-+/=!@#$%^&*.~]{8,})[ \t]*$"), 1),
)

# Where a generated credential sits: a whole quoted string, or a value at the end of a line.
_CANDIDATES = (re.compile(r"[\"'`]([A-Za-z0-9+/_\-]{20,}={0,2})[\"'`]"),
               re.compile(r"[=:][ \t]*([A-Za-z0-9+/_\-]{20,}={0,2})[ \t]*$", re.M))
LOOK_BACK = 64
"""Characters before a match that `_Rule.before` sees."""
_PRIORITY = {kind: i for i, kind in enumerate(["private-key", *(r.kind for r in RULES), "high-entropy-string"])}
_PLACEHOLDER = re.compile(r"(?i)^(?:\$\{?\w*\}?|\{\{?[^}]*\}?\}|%\(?\w*\)?s|<[^>]*>|\*+|x+|\.+|changeme|"
                          r"password|secret|redacted|example|dummy|null|none|true|false)$")
_LABEL = re.compile(r"[a-z]+|[A-Z][A-Z0-9_]*")
_ENV_FILE = re.compile(r"^\.env(?:\.(?!example$|sample$|template$|dist$|defaults$)[\w.-]+)?$")
_KEY_FILE = re.compile(r"(?:^id_(?:rsa|dsa|ecdsa|ed25519)$|\.(?:pem|key|p12|pfx|jks|keystore|ppk)$)")

CACHE_LINES = 200_000
"""Lines whose scan result is remembered. Successive versions of a file share almost all their lines, so
each distinct line is scanned once, not once per version (the memory is emptied when full)."""
_clean: set[str] = set()
_hits: dict[str, tuple[tuple[str, int, int], ...]] = {}


def secret_file_kind(path: str) -> str | None:
    """'env-file' or 'key-file' when the file as a whole is a secret, judged by its name, else None."""
    name = PurePosixPath(path).name
    if _ENV_FILE.match(name):
        return "env-file"
    if _KEY_FILE.search(name):
        return "key-file"
    return None


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def looks_random(token: str) -> bool:
    """A quoted or assigned token that reads like a generated credential rather than a word or a name.

    Random base62 strings of n characters score at least 0.84 * log2(n) bits of entropy about 99 times in
    100 (up to 4.5); identifiers and words score lower, and rarely mix upper case, lower case and digits.
    """
    core = token.rstrip("=")
    if not (any(c.isupper() for c in core) and any(c.islower() for c in core) and any(c.isdigit() for c in core)):
        return False
    return entropy(core) >= min(0.84 * math.log2(len(core)), 4.5)


def scan(text: str) -> list[Finding]:
    """Every secret in `text`, by position; overlapping findings are reported once.

    A private key block runs from its BEGIN line to its END line, or to the end of `text` without one.
    """
    return scan_many([text])[0]


def scan_many(texts: list[str], split: list[list[str]] | None = None) -> list[list[Finding]]:
    """`scan` for each text; the lines none of them had before are scanned together, in one pass.

    `split` may give each text's `text.split("\\n")` when the caller has it already.
    """
    split = split if split is not None else [text.split("\n") for text in texts]
    # The lines not known to be clean (membership tests run in C): those with secrets, and new ones.
    doubtful = list(filterfalse(_clean.__contains__, chain.from_iterable(split)))
    unseen = set(filterfalse(_hits.__contains__, doubtful))
    if unseen:
        _learn(sorted(unseen))
    if _hits.keys().isdisjoint(doubtful):  # the usual case: every line is clean, nothing to place
        return [[] for _ in texts]
    return [_findings(text, lines) for text, lines in zip(texts, split, strict=True)]


def _findings(text: str, lines: list[str]) -> list[Finding]:
    if _hits.keys().isdisjoint(lines):
        return []  # the usual case, decided by set operations alone
    found: list[Finding] = []
    pos, key_start = 0, -1
    for line in lines:
        for kind, a, b in _hits.get(line, ()):
            if kind == "key-begin" and key_start < 0:
                key_start = pos + a
            elif kind == "key-end" and key_start >= 0:
                found.append(Finding("private-key", key_start, pos + b))
                key_start = -1
            elif kind not in ("key-begin", "key-end"):
                found.append(Finding(kind, pos + a, pos + b))
        pos += len(line) + 1
    if key_start >= 0:
        found.append(Finding("private-key", key_start, len(text)))
    return _without_overlaps(found)


def _learn(lines: list[str]) -> None:
    """Scan new lines, all at once: each rule runs once over them joined (no rule matches across lines)."""
    if len(_clean) + len(_hits) + len(lines) > CACHE_LINES:
        _clean.clear()
        _hits.clear()
    joined = "\n".join(lines)
    starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=0))
    per_line: dict[int, list[tuple[str, int, int]]] = {}
    for kind, a, b in _matches(joined):
        i = bisect.bisect_right(starts, a) - 1
        per_line.setdefault(i, []).append((kind, a - starts[i], b - starts[i]))
    for i, line in enumerate(lines):
        if i in per_line:
            _hits[line] = tuple(sorted(per_line[i], key=lambda h: h[1]))
        else:
            _clean.add(line)


def _matches(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every rule's matches, plus the BEGIN/END markers of private key blocks."""
    out = [("key-begin", m.start(), m.end()) for m in _KEY_BEGIN.finditer(text)]
    out += [("key-end", m.start(), m.end()) for m in _KEY_END.finditer(text)]
    for rule in RULES:
        for m in rule.pattern.finditer(text):
            start = m.start()
            if rule.word_start and start > 0 and text[start - 1].isalnum():
                continue
            if rule.before is not None:
                lead = rule.before.search(text, max(0, start - LOOK_BACK), start)
                if lead is None:
                    continue
                start = lead.start()
            value = m.group(rule.group)
            if rule.group and (_PLACEHOLDER.match(value) or (rule.labels_allowed and _LABEL.fullmatch(value))):
                continue
            out.append((rule.kind, m.start(rule.group) if rule.group else start, m.end(rule.group)))
    for candidate in _CANDIDATES:
        for m in candidate.finditer(text):
            if looks_random(m.group(1)):
                out.append(("high-entropy-string", m.start(1), m.end(1)))
    return out


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (_PRIORITY[f.kind], f.start)):  # the higher-priority claim wins
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def overlapping(findings: list[Finding], start: int, end: int) -> list[Finding]:
    return [f for f in findings if f.start < end and f.end > start]


def redact(text: str, findings: list[Finding], start: int = 0, end: int | None = None) -> str:
    """`text[start:end]` with every secret (or the part of it inside the slice) replaced by REDACTED."""
    end = len(text) if end is None else end
    if not findings:  # the usual case: nothing to replace, the slice itself
        return text[start:end]
    out, pos = [], start
    for f in overlapping(findings, start, end):
        lo, hi = max(f.start, start), min(f.end, end)
        if lo > pos:
            out.append(text[pos:lo])
        out.append(REDACTED)
        pos = max(pos, hi)
    out.append(text[pos:end])
    return "".join(out)


def preview(secret: str) -> str:
    """What may be shown of a secret: its first four characters and its length."""
    return f"{secret[:4]}… ({len(secret)} chars)"


def main(argv: list[str]) -> int:
    for name in argv:
        text = Path(name).read_text(encoding="utf-8", errors="replace")
        kinds = [secret_file_kind(name)] if secret_file_kind(name) else []
        for f in scan(text):
            print(f"{name}: {f.kind} at {f.start}: {preview(text[f.start:f.end])}")
        for kind in kinds:
            print(f"{name}: {kind} (by name)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
