"""The context step: token budgets cut at line boundaries, snippets of open documents, the shape of the place."""

from __future__ import annotations

from assistant.config import ServerConfig
from assistant.profiles import get_profile
from assistant.prompt import render_prompt, trim_context
from assistant.snippets import TOP_K as SNIPPET_TOP_K
from server.context import (
    STEADY_LINES,
    CompletionRequest,
    block_indent,
    build_context,
    in_comment_or_string,
    steady_start,
)


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def numbered(n: int, start: int = 0) -> str:
    return "".join(f"line {i} of the file\n" for i in range(start, start + n))


def test_prefix_and_suffix_fit_the_token_budget_in_whole_lines_nearest_the_cursor() -> None:
    text = numbered(200) + "cursor here = " + "\n" + numbered(200, 200)
    offset = text.index("cursor here = ") + len("cursor here = ")
    cfg = ServerConfig(context_tokens=100, suffix_share=0.25, snippet_share=0.0)
    ctx = build_context(CompletionRequest(text, offset, "a.py"), words, cfg)
    assert ctx.fim.prefix.endswith("line 199 of the file\ncursor here = ")
    assert ctx.fim.suffix.startswith("\nline 200 of the file\n")
    assert words(ctx.fim.prefix) + words(ctx.fim.suffix) <= 100
    assert words(ctx.fim.suffix) <= 25
    assert all(line.startswith("line ") for line in ctx.fim.prefix.splitlines()[:-1])  # never half a line
    assert ctx.line_prefix == "cursor here = " and ctx.line_suffix == ""


def test_a_huge_document_gets_exactly_the_trainers_trimming() -> None:
    text = numbered(60_000) + "x = " + numbered(60_000, 60_000)
    offset = text.index("x = ") + 4
    cfg = ServerConfig(context_tokens=300, snippet_share=0.0)
    ctx = build_context(CompletionRequest(text, offset, "big.py"), words, cfg)
    prefix, suffix = trim_context(text[:offset], text[offset:], words, 300, cfg.suffix_share)
    assert (ctx.fim.prefix, ctx.fim.suffix) == (steady_start(text[:offset], prefix), suffix)


def test_the_window_above_the_cursor_stays_put_while_lines_are_typed() -> None:
    """Its first line moves only every STEADY_LINES lines typed, so the prompt's start (and its KV cache) holds."""
    cfg = ServerConfig(context_tokens=100, suffix_share=0.25, snippet_share=0.0)
    starts = []
    for typed in range(40):
        text = numbered(100 + typed) + "x = "
        ctx = build_context(CompletionRequest(text + "\nend\n", len(text), "a.py"), words, cfg)
        first = int(ctx.fim.prefix.split()[1])
        assert first % STEADY_LINES == 0
        assert words(ctx.fim.prefix) <= 100 and ctx.fim.prefix.endswith(f"line {99 + typed} of the file\nx = ")
        assert words(ctx.fim.prefix) > 100 - 25 - 4 * STEADY_LINES  # at most STEADY_LINES - 1 lines given up
        starts.append(first)
    assert len(set(starts)) <= 40 // STEADY_LINES + 1


def test_a_document_that_fits_keeps_its_first_line() -> None:
    text = numbered(5) + "x = "
    ctx = build_context(CompletionRequest(text, len(text), "a.py"), words, ServerConfig(context_tokens=1000))
    assert ctx.fim.prefix == text


def test_snippets_come_from_the_most_similar_open_documents_and_pay_from_the_budget() -> None:
    helpers = "def parse_header(raw):\n    name, value = raw.split(':')\n    return name.strip(), value\n"
    unrelated = "class Colour:\n    RED = 1\n    GREEN = 2\n"
    similar_too = "def read_header(raw):\n    return raw.split(':')\n"
    text = numbered(50) + "def handle(raw):\n    name, value = parse_header(raw)\n    "
    docs = (("colour.py", unrelated), ("headers.py", helpers), ("read.py", similar_too))
    cfg = ServerConfig(context_tokens=200, snippet_share=0.5)
    ctx = build_context(CompletionRequest(text, len(text), "main.py", "python", docs), words, cfg)
    assert [s.path for s in ctx.fim.snippets] == ["headers.py", "read.py"][:SNIPPET_TOP_K]
    used = sum(words(f"{s.path}\n{s.text}\n") + 1 for s in ctx.fim.snippets)
    assert words(ctx.fim.prefix) + words(ctx.fim.suffix) <= 200 - used
    prompt = render_prompt(get_profile("tiny"), ctx.fim)
    assert prompt.startswith("<file_sep>headers.py\ndef parse_header(raw):")
    assert "<file_sep>main.py\n<fim_prefix>" in prompt

    no_room = build_context(CompletionRequest(text, len(text), "main.py", "python", docs), words,
                            ServerConfig(context_tokens=200, snippet_share=0.0))
    assert no_room.fim.snippets == ()


def test_where_blocks_start() -> None:
    assert block_indent("def f(x):\n    ", "    ", "") == 0
    assert block_indent("class A:\n    def f(self):\n\n        ", "        ", "") == 4
    assert block_indent("if (x) {", "if (x) {", "") == 0
    assert block_indent("x = 1\n", "", "") is None
    assert block_indent("def f(x):\n    ", "    ", "return x") is None  # mid-line: never a block start
    assert block_indent("", "", "") is None


def test_comments_and_strings_at_the_cursor() -> None:
    assert in_comment_or_string("x = 1  # note ", "#")
    assert in_comment_or_string("s = 'it is", "#")
    assert in_comment_or_string('s = "a \\" b', "#")  # an escaped quote does not close the string
    assert not in_comment_or_string("s = 'done' + ", "#")
    assert not in_comment_or_string('url = "http://x" + ', "//")
    assert in_comment_or_string("let y = 2; // why ", "//")
