"""Golden cases for each postprocessing filter, written as the source text a user sees.

In a case, `⟨` is the cursor and `⟨...⟩` holds the completion: in `raw`, what the model wrote; in `kept`,
what the filter (or the whole chain) leaves of it. Everything outside the markers is the document, and
must read the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from assistant.config import ServerConfig
from server.context import CompletionRequest, Context, build_context
from server.postprocess import FILTERS, postprocess, settled
from server.postprocess.brackets import no_duplicate_closing_brackets
from server.postprocess.repetition import drop_repetitive_loops, drop_suffix_repeat
from server.postprocess.scope import (
    lines_for_the_place,
    single_line_in_comment_or_string,
    stop_at_block_end,
)
from server.postprocess.whitespace import drop_whitespace_only, trim_trailing_whitespace

EXTENSIONS = {"python": "py", "javascript": "js", "go": "go"}


@dataclass(frozen=True)
class Case:
    name: str
    language: str
    raw: str
    kept: str


def split(marked: str) -> tuple[str, str, str]:
    before, rest = marked.split("⟨", 1)
    middle, after = rest.split("⟩", 1)
    return before, middle, after


def context_of(before: str, after: str, language: str) -> Context:
    req = CompletionRequest(text=before + after, offset=len(before), path=f"x.{EXTENSIONS[language]}",
                            language_id=language)
    return build_context(req, lambda s: len(s.split()), ServerConfig())


def run(case: Case, filters: tuple) -> str:
    before, raw, after = split(case.raw)
    kept_before, _, kept_after = split(case.kept)
    assert (before, after) == (kept_before, kept_after), "a golden case must not change the document around it"
    return before + "⟨" + postprocess(raw, context_of(before, after, case.language), filters) + "⟩" + after


GOLDEN: dict[object, list[Case]] = {
    single_line_in_comment_or_string: [
        Case("comment", "python", "# add up the ⟨prices of all items\ntotal = sum(prices)⟩\n",
             "# add up the ⟨prices of all items⟩\n"),
        Case("string", "python", 'greeting = "hello, ⟨world"\nprint(greeting)⟩\n',
             'greeting = "hello, ⟨world"⟩\n'),
        Case("code is left alone", "python", "total = sum(⟨prices)\nprint(total)⟩\n",
             "total = sum(⟨prices)\nprint(total)⟩\n"),
        Case("a # inside a string is not a comment", "python", 'x = "#" + ⟨y\nz = 1⟩\n',
             'x = "#" + ⟨y\nz = 1⟩\n'),
    ],
    lines_for_the_place: [
        Case("a python block starts", "python", "def double(x):\n    ⟨y = x * 2\n    return y⟩\n",
             "def double(x):\n    ⟨y = x * 2\n    return y⟩\n"),
        Case("inside a body: one line", "python", "def double(x):\n    y = x * 2\n    ⟨return y\n\nprint(1)⟩\n",
             "def double(x):\n    y = x * 2\n    ⟨return y⟩\n"),
        Case("a brace block starts", "javascript", "function inc(a) {⟨\n  return a + 1;\n}⟩",
             "function inc(a) {⟨\n  return a + 1;\n}⟩"),
        Case("end of a line: the next line too", "python", "x = compute()⟨\ny = x + 1\nz = 2⟩\n",
             "x = compute()⟨\ny = x + 1⟩\n"),
        Case("mid-line: the rest of the line", "javascript", "const y = add(⟨x, 1\nconst z = 2;⟩);\n",
             "const y = add(⟨x, 1⟩);\n"),
    ],
    stop_at_block_end: [
        Case("python: stop at the dedent", "python",
             "def add(a, b):\n    ⟨return a + b\n\ndef sub(a, b):\n    return a - b⟩\n",
             "def add(a, b):\n    ⟨return a + b\n⟩\n"),
        Case("braces: keep the closing line the file lacks", "javascript",
             "function add(a, b) {\n  ⟨return a + b;\n}\n\nfunction sub(a, b) {⟩",
             "function add(a, b) {\n  ⟨return a + b;\n}⟩"),
        Case("braces: not when the file already closes it", "javascript",
             "function add(a, b) {\n  ⟨return a + b;\n}\n⟩\n}\n",
             "function add(a, b) {\n  ⟨return a + b;⟩\n}\n"),
        Case("deeper lines belong to the block", "python",
             "for x in xs:\n    ⟨if x:\n        print(x)\n    else:\n        pass\nprint('done')⟩\n",
             "for x in xs:\n    ⟨if x:\n        print(x)\n    else:\n        pass⟩\n"),
    ],
    drop_repetitive_loops: [
        Case("a line three times", "python", "def f(x):\n    ⟨x += 1\n    x += 1\n    x += 1\n    x += 1⟩\n",
             "def f(x):\n    ⟨x += 1⟩\n"),
        Case("a block of two lines three times", "python",
             "def f(x):\n    ⟨a()\n    b()\n    a()\n    b()\n    a()\n    b()⟩\n",
             "def f(x):\n    ⟨a()\n    b()⟩\n"),
        Case("a word looping in a line", "python", "name = ⟨handle_1_1_1_1_1_1_1_1⟩\n", "name = ⟨handle_1⟩\n"),
        Case("a row of numbers is data, not a loop", "python", "row = ⟨[0, 0, 0, 0, 0, 0, 0]⟩\n",
             "row = ⟨[0, 0, 0, 0, 0, 0, 0]⟩\n"),
        Case("two equal lines are fine", "python", "def f():\n    ⟨pass\n    pass⟩\n",
             "def f():\n    ⟨pass\n    pass⟩\n"),
    ],
    drop_suffix_repeat: [
        Case("stop where the completion meets the next line", "python",
             "def f(x):\n    ⟨y = x * 2\n    return y⟩\n    return y\n",
             "def f(x):\n    ⟨y = x * 2⟩\n    return y\n"),
        Case("a whole line that is already the next line", "python",
             "def f(x):\n    y = x * 2\n    ⟨return y⟩\n    return y\n",
             "def f(x):\n    y = x * 2\n    ⟨⟩\n    return y\n"),
        Case("the rest of a line is not compared", "python", "x = ⟨1⟩\nx = 1\n", "x = ⟨1⟩\nx = 1\n"),
    ],
    no_duplicate_closing_brackets: [
        Case("an auto-closed paren", "python", "print(total(⟨xs))⟩))\n", "print(total(⟨xs⟩))\n"),
        Case("balanced inside, one extra", "python", "call(⟨a, b[0])⟩)\n", "call(⟨a, b[0]⟩)\n"),
        Case("a bracket", "javascript", "const xs = [⟨1, 2]⟩];\n", "const xs = [⟨1, 2⟩];\n"),
        Case("an auto-closed quote", "python", 'name = "⟨alice"⟩"\n', 'name = "⟨alice⟩"\n'),
        Case("nothing to close after the cursor", "python", "x = (⟨a + b)⟩ * 2\n", "x = (⟨a + b)⟩ * 2\n"),
        Case("closers in another order are left alone", "python", "a(b[⟨x])⟩]\n", "a(b[⟨x])⟩]\n"),
    ],
    trim_trailing_whitespace: [
        Case("spaces and blank lines at the end", "python", "def f():\n    ⟨return 1   \n\n⟩\n",
             "def f():\n    ⟨return 1⟩\n"),
    ],
    drop_whitespace_only: [
        Case("only spaces", "python", "x = ⟨   ⟩\n", "x = ⟨⟩\n"),
        Case("text stays", "python", "x = ⟨1⟩\n", "x = ⟨1⟩\n"),
    ],
    "all filters": [
        Case("a tiny model looping after a block start", "python",
             "def handle(request):\n    ⟨value = request.get('a')\n    return value\n    return value\n"
             "    return value\n\n@register('b')⟩\n",
             "def handle(request):\n    ⟨value = request.get('a')\n    return value⟩\n"),
        Case("mid-line in an auto-closed call", "go", "fmt.Println(⟨name)\n\tfmt.Println(age)⟩)\n",
             "fmt.Println(⟨name⟩)\n"),
        Case("in a comment, stop at the line's end", "go", "// Parse reads ⟨the config file.   \nfunc Parse() {⟩\n",
             "// Parse reads ⟨the config file.⟩\n"),
    ],
}

PARAMS = [pytest.param(f, case, id=f"{getattr(f, '__name__', f)}: {case.name}")
          for f, cases in GOLDEN.items() for case in cases]


@pytest.mark.parametrize(("f", "case"), PARAMS)
def test_golden(f: object, case: Case) -> None:
    filters = FILTERS if f == "all filters" else (f,)
    assert run(case, filters) == case.kept


def test_every_filter_has_golden_cases_and_runs_in_the_documented_order() -> None:
    assert set(FILTERS) <= set(GOLDEN)
    names = [f.__name__ for f in FILTERS]
    assert names.index("single_line_in_comment_or_string") < names.index("stop_at_block_end")
    assert names[-1] == "drop_whitespace_only"


def test_a_filter_that_empties_the_text_stops_the_chain() -> None:
    seen: list[str] = []

    def spy(text: str, ctx: object) -> str:
        seen.append(text)
        return text

    req = CompletionRequest(text="x = \n", offset=4, path="x.py")
    ctx = build_context(req, lambda s: len(s.split()), ServerConfig())
    assert postprocess("   ", ctx, (drop_whitespace_only, spy)) == ""
    assert seen == []


def first_settled(raw: str, ctx: Context) -> int | None:
    """How many characters of `raw` a generation streaming it one character at a time would have written when
    `settled` stopped it, or None when it never would."""
    return next((n for n in range(1, len(raw) + 1) if settled(raw[:n], ctx)), None)


@pytest.mark.parametrize(("f", "case"), PARAMS)
def test_stopping_when_settled_never_changes_the_ghost_text(f: object, case: Case) -> None:
    before, raw, after = split(case.raw)
    ctx = context_of(before, after, case.language)
    stopped = first_settled(raw, ctx)
    if stopped is not None:
        assert postprocess(raw[:stopped], ctx) == postprocess(raw, ctx)


@pytest.mark.parametrize(("marked", "settles_after"), [
    # a block's body ends at the first line back at the opener's indentation, once that line is written
    ("def f(x):⟨\n    y = x + 1\n    return y\nprint(f(2))\nprint(f(3))⟩\n",
     "\n    y = x + 1\n    return y\nprint(f(2))\n"),
    # the same three lines over and over: settled when the third copy is complete
    ("for i in range(3):⟨\n    log(i)\n    log(i)\n    log(i)\n    log(i)⟩\n",
     "\n    log(i)\n    log(i)\n    log(i)\n"),
    # a unit repeated within the unfinished line
    ("name = \"model⟨_text_text_text_text_text_text⟩\"\n", "_text_text_text_text_text"),
])
def test_settles_as_soon_as_the_rest_cannot_be_shown(marked: str, settles_after: str) -> None:
    before, raw, after = split(marked)
    assert first_settled(raw, context_of(before, after, "python")) == len(settles_after)


def test_an_unfinished_or_ordinary_completion_never_settles() -> None:
    ctx = context_of("def f(x):", "\n", "python")
    for raw in ("\n    y = x + 1\n    return", "\n    y = x + 1\n    return y\n", "\n    if y:\n        return y\n"):
        assert first_settled(raw, ctx) is None
