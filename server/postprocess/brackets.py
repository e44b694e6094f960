"""Do not duplicate closing brackets and quotes that the code after the cursor already has.

Editors auto-close brackets: the user types `foo(` and the line reads `foo(|)`. A model that writes
`a, b)` would leave `foo(a, b))`. The closers the completion adds beyond its own openers close brackets
opened before the cursor; when the rest of the line starts with those same closers, they are dropped.
"""

from __future__ import annotations

from server.context import Context

PAIRS = {")": "(", "]": "[", "}": "{"}
QUOTES = "\"'`"


def no_duplicate_closing_brackets(text: str, ctx: Context) -> str:
    rest = ctx.line_suffix.lstrip()
    if not rest or (rest[0] not in PAIRS and rest[0] not in QUOTES):
        return text
    body = text.rstrip()
    excess = _unmatched_closers_at_end(body)
    leading = _leading_closers(rest)
    if excess:
        common = 0
        while common < min(len(excess), len(leading)) and excess[common] == leading[common]:
            common += 1
        # The rest of the line closes the same brackets, innermost first. All of the completion's closers go
        # when the line has them all; a part only when they are all the same bracket (order cannot differ).
        if common == len(excess) or (common and len(set(excess)) == 1):
            return body[:len(body) - common]
        return text
    quote = rest[0]
    if "\n" not in body and body.endswith(quote) and quote in QUOTES:
        line = ctx.line_prefix + body
        if _unescaped_count(line, quote) % 2 == 0:  # the completion closed the string the line already closes
            return body[:-1]
    return text


def _unmatched_closers_at_end(text: str) -> str:
    """The closers at the end of `text` that close nothing opened within `text`, in the order they appear."""
    stack: list[str] = []
    unmatched: list[int] = []
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append(ch)
        elif ch in PAIRS:
            if stack and stack[-1] == PAIRS[ch]:
                stack.pop()
            else:
                unmatched.append(i)
    # Only a run of unmatched closers that ends the text can be the duplicate of the line's closers.
    run: list[int] = []
    end = len(text)
    for i in reversed(unmatched):
        if i != end - 1:
            break
        run.append(i)
        end = i
    return "".join(text[i] for i in reversed(run))


def _leading_closers(rest: str) -> str:
    out = []
    for ch in rest:
        if ch not in PAIRS:
            break
        out.append(ch)
    return "".join(out)


def _unescaped_count(line: str, quote: str) -> int:
    count = 0
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            count += 1
        i += 1
    return count
