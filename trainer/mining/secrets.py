"""Credentials never reach a training example: find them, then drop or redact what holds them.

`scan(text)` returns every secret found in a text as a `Finding` (kind and character span). The miner scans
each file version once, whole, before cutting examples from it, so that a secret is seen even when an
example's window holds only part of it (a private key block whose BEGIN line lies outside the prefix);
then an example whose window overlaps a finding is dropped (`mine.secrets = "drop"`, the default) or has
the secret replaced by `REDACTED` (`"redact"`). Snippets of other files get the same treatment.

Kinds, by the token's own shape: aws-access-key-id, github-token, gitlab-token, slack-token, slack-webhook,
stripe-key, huggingface-token, anthropic-key, openai-key, google-api-key, google-oauth-secret, sendgrid-key,
twilio-key, telegram-bot-token, mailgun-key, shopify-token, digitalocean-token, databricks-token,
discord-webhook, pypi-token, npm-token, age-secret-key, private-key, jwt. By what surrounds it:
aws-secret-access-key, gcp-service-account, azure-storage-key (`AccountKey=`), azure-sas-token (`sig=`),
connection-string, authorization-header (`Basic`/`Bearer`), docker-auth, password-assignment (quoted, or a
plain YAML/properties value), env-assignment, hex-token (hex after a name like `*_key`, `*_token`), and
high-entropy-string. By file name: env-file (.env), key-file (*.pem, id_rsa, ...), credential-file (.npmrc,
.pypirc, .netrc, .git-credentials, .htpasswd, .dockercfg, credentials.json, kubeconfig, ...), and
terraform-state (*.tfstate).

Placeholders are not secrets: references (`${DB_PASSWORD}`, `$TOKEN`, `{{ vault_pw }}`, `%(pw)s`,
`<your-token>`), runs of one to three characters (`xxxx`, `****`, `0000`), and the words `changeme`,
`example`, `dummy`, `placeholder`, `your_...`: they appear in templates and docs, and one that is someone's
real password is public already. Commit hashes, UUIDs and checksums (hex after `sha256`, `integrity`,
`hash`, `checksum`) are not secrets either: hex counts only after a secret-like name.
A secret is never printed: reports carry kinds and counts, and `preview` shows at most four characters.

Try it on a file: `python -m trainer.mining.secrets PATH` prints the kinds and previews it finds.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import re
import sys
from collections import Counter
from collections.abc import Callable
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
    check: Callable[[str], bool] | None = None
    """What the secret itself must pass beyond its shape: its alphabet, or what it decodes to."""


def _generated(value: str) -> bool:
    """Upper case, lower case and digits, as in a generated base62 token (not a word, a slug or a name)."""
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and any(c.isdigit() for c in value))


def _mixed_case(value: str) -> bool:
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


def _digits_and_letters(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


_HEX_RUN = re.compile(r"[0-9a-fA-F]{20,}")


def _random_hex(value: str) -> bool:
    """The token's hex part mixes digits and letters, as a generated one does (`0000...` or `aaaa...` do not)."""
    run = _HEX_RUN.search(value)
    return run is not None and _digits_and_letters(run.group())


def _user_and_password(value: str) -> bool:
    """Base64 of `user:password`, the form of HTTP Basic credentials and of Docker's `auth` values."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, password = decoded.partition(":")
    return bool(colon and user and password) and decoded.isprintable()


_REFERENCE = re.compile(r"[A-Za-z_$]+|[a-z]+(?:-[a-z]+)+|[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
"""A name without digits, a lowercase slug or an attribute path: code or a label (`str`, `process.env.PW`)."""


def _not_reference(value: str) -> bool:
    return not _REFERENCE.fullmatch(value)


def _openai_key(value: str) -> bool:
    return "T3BlbkFJ" in value or _generated(value)  # the marker is base64 of "OpenAI"


_SECRET_NAME = (r"(?:password|passwd|passphrase|pwd|secret|secret[_-]?key|client[_-]?secret|api[_-]?key|apikey|"
                r"access[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|api[_-]?token|refresh[_-]?token|"
                r"bearer[_-]?token|session[_-]?token|credentials?)")
_ENV_NAME = r"[A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)"
_PLAIN_KEY = re.compile(rf"(?im)^[ \t]*(?:-[ \t]+)?[\"']?[\w.-]*?{_SECRET_NAME}[\"']?[ \t]*\Z")
"""A YAML or .properties key at the start of its line, ending in a secret's name (`db.password`)."""
_HEX_NAME = re.compile(r"(?i)(?<![\w.-])(?![\w.-]*(?:hash|sha\d*|md5|checksum|digest|integrity|commit|fingerprint|"
                       rf"etag|public|pub|cache|nonce))[\w.-]*?(?:{_SECRET_NAME}|token|key|auth)[\"']?[ \t]*\Z")
"""A secret-like name (`signing_key`, `twilio_token`) that no checksum or public value is called."""
_AUTH_HEADER = r"uthorization[\"']?[ \t]*[:=,][ \t]*[\"']?"
"""An `Authorization` header's name and separator, in a request, a curl line or a dict of headers."""
_AUTH_A = re.compile(r"(?<![A-Za-z])[Aa]\Z")

# A private key block spans lines: its BEGIN and END lines are found per line and joined by `scan`.
_KEY_BEGIN = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")

# In priority order: where two findings overlap, the kind of the earlier rule names it. No rule matches
# across a line end (`[ \t]`, never `\s`, between tokens): `scan` runs them over many lines joined at once.
# Token shapes are learnt from the public rule sets of gitleaks, trufflehog and detect-secrets. An operator is
# `[=:][=>]?` (`=`, `:`, `:=`, `=>`, `==`): a class, not an alternation, lets the engine skip ahead 3x faster.
_END = r"(?![A-Za-z0-9_-])"
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
    _Rule("huggingface-token", re.compile(rf"hf_[A-Za-z0-9]{{30,40}}{_END}"), word_start=True, check=_mixed_case),
    _Rule("huggingface-token", re.compile(rf"api_org_[A-Za-z0-9]{{30,40}}{_END}"), word_start=True,
          check=_mixed_case),
    _Rule("anthropic-key", re.compile(rf"sk-ant-[a-z]{{3,6}}\d\d-[A-Za-z0-9_-]{{32,}}{_END}"), word_start=True),
    _Rule("openai-key", re.compile(rf"sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{{32,}}{_END}"),
          word_start=True, check=_openai_key),
    _Rule("google-api-key", re.compile(rf"AIza[A-Za-z0-9_-]{{35}}{_END}"), word_start=True),
    _Rule("google-oauth-secret", re.compile(rf"GOCSPX-[A-Za-z0-9_-]{{28}}{_END}"), word_start=True),
    _Rule("sendgrid-key", re.compile(rf"SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_END}"), word_start=True),
    _Rule("twilio-key", re.compile(rf"SK[0-9a-fA-F]{{32}}{_END}"), word_start=True, check=_random_hex),
    _Rule("twilio-key", re.compile(rf"AC[0-9a-f]{{32}}{_END}"), word_start=True, check=_random_hex),
    _Rule("telegram-bot-token", re.compile(rf":AA[A-Za-z0-9_-]{{33}}{_END}"),  # after the bot's numeric id
          before=re.compile(r"(?<![0-9])[0-9]{5,16}\Z")),
    _Rule("mailgun-key", re.compile(rf"key-[0-9a-f]{{32}}{_END}"), word_start=True, check=_random_hex),
    _Rule("mailgun-key", re.compile(rf"-[0-9a-f]{{8}}-[0-9a-f]{{8}}{_END}"),  # the 32-8-8 form of newer keys
          before=re.compile(r"(?<![A-Za-z0-9-])[0-9a-f]{32}\Z")),
    _Rule("shopify-token", re.compile(rf"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{{32}}{_END}"), word_start=True),
    _Rule("digitalocean-token", re.compile(rf"do[opr]_v1_[0-9a-f]{{64}}{_END}"), word_start=True),
    _Rule("databricks-token", re.compile(rf"dapi[0-9a-f]{{32}}(?:-[0-9])?{_END}"), word_start=True,
          check=_random_hex),
    _Rule("discord-webhook", re.compile(r"https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/api/webhooks/"
                                        rf"[0-9]{{17,20}}/[A-Za-z0-9_-]{{60,68}}{_END}")),
    _Rule("azure-storage-key", re.compile(r"Key=([A-Za-z0-9+/]{40,}={0,2})(?![A-Za-z0-9+/=])"), 1,
          before=re.compile(r"(?:Account|SharedAccess)\Z"), check=_generated),
    _Rule("azure-sas-token", re.compile(r"sig=([A-Za-z0-9%+/]{30,}(?:%3D|=){0,2})"), 1,
          before=re.compile(r"[?&]\Z"), check=_digits_and_letters),
    _Rule("pypi-token", re.compile(rf"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{{50,}}{_END}"),
          word_start=True),
    _Rule("npm-token", re.compile(rf"npm_[A-Za-z0-9]{{36}}{_END}"), word_start=True, check=_generated),
    _Rule("age-secret-key", re.compile(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b")),
    _Rule("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), word_start=True),
    _Rule("connection-string", re.compile(r"://[^\s:/@\"'<>]+:([^\s@\"'<>/]{3,})@[^\s\"'<>]+"), 1,
          before=re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9+.-]{1,20}\Z")),
    _Rule("authorization-header", re.compile(rf"{_AUTH_HEADER}(?:[Bb]asic|BASIC)[ \t]+([A-Za-z0-9+/]{{8,}}={{0,2}})"
                                             r"(?![\w+/=.-])"), 1, before=_AUTH_A, check=_user_and_password),
    _Rule("authorization-header", re.compile(rf"{_AUTH_HEADER}(?:[Bb]earer|BEARER|[Tt]oken|TOKEN)[ \t]+"
                                             r"([A-Za-z0-9._~+/-]{16,}=*)(?![\w.~+/=-])"), 1, labels_allowed=True,
          before=_AUTH_A, check=_digits_and_letters),
    _Rule("docker-auth", re.compile(r'"auth"[ \t]*:[ \t]*"([A-Za-z0-9+/]{8,}={0,2})"'), 1, check=_user_and_password),
    # Unquoted values (.env style, Dockerfile ENV, shell export) only when they mix letters and digits:
    # `API_TOKEN = settings.token` or `MAX_TOKENS = 4096` are code, not credentials.
    _Rule("env-assignment", re.compile(rf"(?m)^[ \t]*(?:export[ \t]+|ENV[ \t]+)?{_ENV_NAME}[A-Z0-9_]*[ \t]*="
                                       r"[ \t]*((?=\S*\d)(?=\S*[A-Za-z])[A-Za-z0-9_\-+/=!@#$%^&*.~]{8,})[ \t\r]*$"),
          1),
    _Rule("password-assignment", re.compile(r"[=:][=>]?[ \t]*([\"'])([^\"'\s]{4,})\1"), 2, labels_allowed=True,
          before=re.compile(rf"(?i){_SECRET_NAME}(?![A-Za-z0-9])[\"']?[ \t]*\Z")),
    # A plain value of a YAML or .properties key (`password: hunter22`, `db.password=s3cret!`): one token to
    # the end of its line, and not code (`password: str`, `password: user.pw,`, `pwd: /srv/app`, `get_pw()`)
    # nor YAML syntax (`!vault`, `&anchor`, `*alias`, `|`, `{...}`).
    # (The lookahead, a digit or a symbol, only spares the look-back for words that `_not_reference` rejects.)
    _Rule("password-assignment", re.compile(r"(?m)(?:=[ \t]*|:[ \t]+)(?=\S*[^\sA-Za-z_$.-])"
                                            r"([^\s\"'`#{}\[\]()&*!|>%@,=/.~][^\s()\[\]]{4,}[^\s()\[\],;])[ \t\r]*$"),
          1, before=_PLAIN_KEY, check=_not_reference),
    _Rule("hex-token", re.compile(r"[=:][=>]?[ \t]*[\"'`]?([0-9a-fA-F]{32,})(?![\w-])"), 1, before=_HEX_NAME,
          check=_random_hex),
)

# Where a generated credential sits: a whole quoted string, or a value at the end of a line.
_CANDIDATES = (re.compile(r"[\"'`]([A-Za-z0-9+/_\-]{20,}={0,2})[\"'`]"),
               re.compile(r"[=:][ \t]*([A-Za-z0-9+/_\-]{20,}={0,2})[ \t\r]*$", re.M))
_DIGEST = re.compile(r"(?:sha\d{1,3}|md5)-")
"""A checksum in Subresource Integrity form (`"integrity": "sha512-..."` in lock files): random, not secret."""
LOOK_BACK = 64
"""Characters before a match that `_Rule.before` sees."""
_PRIORITY: dict[str, int] = {}
for _kind in ["private-key", *(r.kind for r in RULES), "high-entropy-string"]:
    _PRIORITY.setdefault(_kind, len(_PRIORITY))
_PLACEHOLDER = re.compile(r"(?i)^(?:\$\{?\w*\}?|\{\{?[^}]*\}?\}|%\(?\w*\)?s|%\w+%|<[^>]*>|\*+|x+|\.+|changeme|"
                          r"password|secret|redacted|example|dummy|null|none|true|false)$")
_PLACEHOLDER_PART = re.compile(r"(?i)x{4}|\*{3}|\.{3}|your[_-]|example|placeholder|redacted|changeme|dummy|"
                               r"\$\{|\{\{|#\{|<[\w-]+>")
_LABEL = re.compile(r"[a-z]+|[A-Z][A-Z0-9_]*")
_ENV_FILE = re.compile(r"^\.env(?:\.(?!example$|sample$|template$|dist$|defaults$)[\w.-]+)?$")
_KEY_FILE = re.compile(r"(?:^id_(?:rsa|dsa|ecdsa|ed25519)$|\.(?:pem|key|p12|pfx|jks|keystore|ppk)$)")
_CREDENTIAL_FILE = re.compile(r"(?:^|/)(?:\.npmrc|\.pypirc|[._]netrc|\.git-credentials|\.htpasswd|\.dockercfg|"
                              r"\.pgpass|\.s3cfg|credentials\.json|client_secrets?[\w.-]*\.json|kubeconfig(?:\.ya?ml)?|"
                              r"[\w.-]+\.kubeconfig|\.kube/config|\.docker/config\.json|\.aws/credentials)$")
_TERRAFORM_STATE = re.compile(r"\.tfstate(?:\.backup)?$")

CACHE_LINES = 200_000
"""Lines whose scan result is remembered. Successive versions of a file share almost all their lines, so
each distinct line is scanned once, not once per version (the memory is emptied when full)."""
_clean: set[str] = set()
_hits: dict[str, tuple[tuple[str, int, int], ...]] = {}


def secret_file_kind(path: str) -> str | None:
    """The kind of a file that as a whole is a secret, judged by its path, else None: 'env-file',
    'key-file', 'credential-file' (a tool's login store: .npmrc, .netrc, kubeconfig, ...) or
    'terraform-state' (it holds every secret the infrastructure has, in plain text)."""
    name = PurePosixPath(path).name
    if _ENV_FILE.match(name):
        return "env-file"
    if _KEY_FILE.search(name):
        return "key-file"
    if _CREDENTIAL_FILE.search(path.replace("\\", "/")):
        return "credential-file"
    if _TERRAFORM_STATE.search(name):
        return "terraform-state"
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
    if not _generated(core):
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
            if (_placeholder(value) or (rule.labels_allowed and _LABEL.fullmatch(value))
                    or (rule.check is not None and not rule.check(value))):
                continue
            out.append((rule.kind, m.start(rule.group) if rule.group else start, m.end(rule.group)))
    for candidate in _CANDIDATES:
        for m in candidate.finditer(text):
            if looks_random(m.group(1)) and not _DIGEST.match(m.group(1)):
                out.append(("high-entropy-string", m.start(1), m.end(1)))
    return out


def _placeholder(value: str) -> bool:
    """A stand-in for a secret in a template or a doc (see the module docstring), not a secret."""
    return bool(_PLACEHOLDER.match(value) or _PLACEHOLDER_PART.search(value)) or len(set(value)) <= 3


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
