"""The one prompt formatter, used by the trainer and the server alike.

Training and serving must build byte-identical prompts, or the fine-tune is wasted: the trainer calls
`render_prompt` and `render_target` for every example, the server calls `render_prompt` for every
request, and both cut the context with `trim_context`.

Layout of a prompt (profiles with a file separator token, e.g. Qwen2.5-Coder, StarCoder2, tiny):

    <file_sep>other/file.py\n<snippet text>\n      (one block per snippet of another file)
    <file_sep>this/file.py\n                      (when the path is known)
    <fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>

Profiles without one (CodeLlama, DeepSeek-Coder) get snippets as line comments at the top of the prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.languages import BY_NAME
from assistant.profiles import Profile


@dataclass(frozen=True)
class Snippet:
    """Code from another file of the workspace, shown to the model as context."""

    path: str
    text: str


@dataclass(frozen=True)
class FimInput:
    """Everything a fill-in-the-middle prompt is made of."""

    prefix: str
    suffix: str
    path: str = ""
    language: str = ""
    snippets: tuple[Snippet, ...] = ()


def render_prompt(profile: Profile, fim: FimInput) -> str:
    """The prompt text; the model's continuation is the middle."""
    prefix = fim.prefix
    header = ""
    if profile.file_sep:
        header = "".join(f"{profile.file_sep}{s.path}\n{s.text}\n" for s in fim.snippets)
        if fim.path:
            header += f"{profile.file_sep}{fim.path}\n"
    elif fim.snippets:
        prefix = _snippets_as_comments(fim.snippets, fim.language) + prefix
    return header + profile.template.format(prefix=prefix, suffix=fim.suffix)


def render_target(profile: Profile, middle: str) -> str:
    """What the model learns to write after the prompt: the middle, then the profile's end token."""
    return middle + profile.end_token


def _snippets_as_comments(snippets: tuple[Snippet, ...], language: str) -> str:
    lang = BY_NAME.get(language)
    mark = lang.line_comment if lang else "#"
    lines = []
    for s in snippets:
        lines.append(f"{mark} {s.path}")
        lines.extend(f"{mark} {line}" for line in s.text.splitlines())
    return "\n".join(lines) + "\n"


MAX_LINE_CHARS = 2000
"""Lines longer than this are never context in full (minified code, data)."""


def trim_context(prefix: str, suffix: str, count_tokens: Callable[[str], int], budget: int,
                 suffix_share: float = 0.25) -> tuple[str, str]:
    """Cut prefix and suffix to about `budget` tokens, at line boundaries, keeping what is nearest the cursor.

    The suffix gets up to `suffix_share` of the budget; what it leaves unused goes to the prefix. The partial
    line around the cursor is always kept whole.
    """
    suffix_budget = int(budget * suffix_share)
    kept_suffix, used = _take_lines(suffix.splitlines(keepends=True), count_tokens, suffix_budget, forward=True)
    kept_prefix, _ = _take_lines(prefix.splitlines(keepends=True), count_tokens, budget - used, forward=False)
    return kept_prefix, kept_suffix


def _take_lines(lines: list[str], count_tokens: Callable[[str], int], budget: int,
                forward: bool) -> tuple[str, int]:
    """Take whole lines nearest the cursor while they fit in `budget`; the line at the cursor always."""
    if not lines:
        return "", 0
    order = lines if forward else lines[::-1]
    taken: list[str] = []
    used = 0
    for i, line in enumerate(order):
        if len(line) > MAX_LINE_CHARS:
            if i > 0:
                break  # a minified or data line beyond the cursor's: not context worth its cost
            # The cursor's own line: keep the part nearest the cursor.
            line = line[:MAX_LINE_CHARS] if forward else line[-MAX_LINE_CHARS:]
        cost = count_tokens(line)
        if i > 0 and used + cost > budget:
            break
        taken.append(line)
        used += cost
    if not forward:
        taken.reverse()
    return "".join(taken), used
