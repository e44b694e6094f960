from assistant.prompt import MAX_LINE_CHARS, trim_context


def words(text: str) -> int:
    return len(text.split())


def test_trim_keeps_whole_lines_nearest_the_cursor() -> None:
    prefix = "".join(f"line {i} a b\n" for i in range(100)) + "    x = "
    suffix = " 1\n" + "".join(f"after {i} c d\n" for i in range(100))
    p, s = trim_context(prefix, suffix, words, budget=40, suffix_share=0.25)
    assert p.endswith("line 99 a b\n    x = ")
    assert p.startswith("line ")  # cut at a line boundary
    assert s.startswith(" 1\nafter 0 c d\n")
    assert s.endswith("\n")
    assert words(s) <= 10 + 1
    assert words(p) + words(s) <= 40 + 4


def test_unused_suffix_budget_goes_to_the_prefix() -> None:
    prefix = "".join(f"w{i}\n" for i in range(100))
    p, s = trim_context(prefix, "", words, budget=40, suffix_share=0.5)
    assert s == "" and words(p) == 40


def test_the_cursor_line_is_kept_even_when_huge_but_bounded() -> None:
    prefix = "a\n" + "x" * (MAX_LINE_CHARS * 3)
    p, _ = trim_context(prefix, "", words, budget=10)
    assert p.endswith("x" * MAX_LINE_CHARS) and len(p) <= MAX_LINE_CHARS + 2


def test_empty_context() -> None:
    assert trim_context("", "", words, budget=10) == ("", "")
