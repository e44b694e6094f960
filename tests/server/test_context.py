"""The context step: token budgets cut at line boundaries, snippets of open documents, the shape of the place."""

from __future__ import annotations

from assistant.config import ServerConfig
from assistant.profiles import get_profile
from assistant.prompt import render_prompt, trim_context
from assistant.snippets import TOP_K as SNIPPET_TOP_K
from server.context import (
    MOVE_SHARE,
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
    assert (ctx.fim.prefix, ctx.fim.suffix) == (steady_start(text[:offset], prefix, words)[0], suffix)


def test_a_window_placed_afresh_leaves_a_quarter_of_the_budget_for_typing() -> None:
    cfg = ServerConfig(context_tokens=100, suffix_share=0.25, snippet_share=0.0)
    text = numbered(100) + "x = "
    ctx = build_context(CompletionRequest(text + "\nend\n", len(text), "a.py"), words, cfg)
    assert int(ctx.fim.prefix.split()[1]) == ctx.window_start
    assert ctx.fim.prefix.endswith("line 99 of the file\nx = ")
    fitted = 100 - (100 - 2) // 5  # the first line the budget allows (5 words a line, 2 at the cursor)
    assert ctx.window_start > fitted
    assert 100 * (1 - MOVE_SHARE) - 5 < words(ctx.fim.prefix) <= 100 * (1 - MOVE_SHARE)


def test_with_the_last_windows_start_the_window_moves_only_when_typing_pushes_it_out() -> None:
    """Given where the document's last window started (as the server passes it), the window stays there while it
    fits, even when the cursor line's token count goes down and up again, and then jumps well ahead."""
    cfg = ServerConfig(context_tokens=87, suffix_share=0.25, snippet_share=0.0)
    base = numbered(100)
    # The cursor's line is 2 tokens, then 3, then 2 again (as "a" then "ab" may be): a window placed afresh, with a
    # quarter of the budget left for typing, starts 88, 89, 88.
    typed = ["x =", "x = a", "x =a"]
    fresh = [build_context(CompletionRequest(base + t, len(base) + len(t), "a.py"), words, cfg) for t in typed]
    assert [ctx.window_start for ctx in fresh] == [88, 89, 88]  # without the last start: back and forth
    start, starts = None, []
    for _ in range(2):
        for t in typed:
            ctx = build_context(CompletionRequest(base + t, len(base) + len(t), "a.py", window_start=start), words, cfg)
            start = ctx.window_start
            starts.append(start)
            assert int(ctx.fim.prefix.split()[1]) == start and words(ctx.fim.prefix) <= 87
    assert starts == [88] * 6
    # Lines typed into an 80-line window: it moves a few times, each time a quarter of the budget ahead.
    cfg = ServerConfig(context_tokens=402, suffix_share=0.25, snippet_share=0.0)
    moves, start, fresh_starts = [], None, set()
    for n in range(100, 160):
        text = numbered(n) + "x ="
        ctx = build_context(CompletionRequest(text, len(text), "a.py", window_start=start), words, cfg)
        assert words(ctx.fim.prefix) <= 402 and ctx.fim.prefix.endswith(f"line {n - 1} of the file\nx =")
        if start is not None and ctx.window_start != start:
            moves.append(ctx.window_start)
        start = ctx.window_start
        fresh_starts.add(build_context(CompletionRequest(text, len(text), "a.py"), words, cfg).window_start)
    assert 1 <= len(moves) <= 3 and len(fresh_starts) == 60  # without the last start: a move every line typed
    # The cursor far above the last window: it is placed afresh there.
    text = numbered(50) + "x = "
    ctx = build_context(CompletionRequest(text + numbered(200), len(text), "a.py", window_start=start), words, cfg)
    assert ctx.fim.prefix.endswith("line 49 of the file\nx = ") and ctx.window_start < 50


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


def test_a_window_placed_afresh_holds_at_most_fresh_tokens_then_grows_as_the_user_types() -> None:
    """The server asks for a small window when the prompt must be evaluated from scratch (a slow engine); kept from
    one request to the next, it grows with what is typed, up to the budget."""
    cfg = ServerConfig(context_tokens=400, suffix_share=0.25, snippet_share=0.0)
    text = numbered(100) + "x ="
    small = build_context(CompletionRequest(text, len(text), "a.py", fresh_tokens=40), words, cfg)
    assert words(small.fim.prefix) <= 40 < words(small.fim.prefix) + 5
    whole = build_context(CompletionRequest(text, len(text), "a.py"), words, cfg)
    assert whole.window_start < small.window_start
    start, sizes = small.window_start, []
    for n in range(101, 200):
        text = numbered(n) + "x ="
        ctx = build_context(CompletionRequest(text, len(text), "a.py", window_start=start, fresh_tokens=40), words, cfg)
        if ctx.window_start != start:
            break
        sizes.append(words(ctx.fim.prefix))
    assert sizes == sorted(sizes) and sizes[-1] > 300  # kept and growing, to most of the budget
    # A short document is whole from its top, unless even that is more than a window placed afresh may hold.
    text = numbered(5) + "x ="
    assert build_context(CompletionRequest(text, len(text), "a.py", fresh_tokens=40), words, cfg).window_start == 0
    assert build_context(CompletionRequest(text, len(text), "a.py", fresh_tokens=12), words, cfg).window_start > 0
