"""Answers without a model call: typing through the shown suggestion, and the bounded result cache."""

from __future__ import annotations

from server.backends.base import Generation
from server.cache import ResultCache, Shown, typed_through

DOC = "def double(x):\n    \n"
CURSOR = DOC.index("    \n") + 4
SHOWN = Shown("id1", DOC, CURSOR, "return x * 2")


def typing(chars: str) -> tuple[str, int]:
    return DOC[:CURSOR] + chars + DOC[CURSOR:], CURSOR + len(chars)


def test_typing_the_start_of_the_suggestion_returns_its_rest() -> None:
    assert typed_through(SHOWN, *typing("ret")) == "urn x * 2"
    assert typed_through(SHOWN, *typing("return x *")) == " 2"
    assert typed_through(SHOWN, *typing("")) == "return x * 2"  # asked again at the same place


def test_anything_else_needs_the_model() -> None:
    assert typed_through(SHOWN, *typing("x")) is None  # typed something the suggestion does not say
    assert typed_through(SHOWN, *typing("return x * 2")) is None  # typed all of it: nothing left
    text, offset = typing("ret")
    assert typed_through(SHOWN, "# note\n" + text, offset + 7) is None  # an edit above the cursor
    assert typed_through(SHOWN, text + "more", offset) is None  # an edit below the cursor
    assert typed_through(SHOWN, DOC, CURSOR - 1) is None  # the cursor moved back


def test_only_whitespace_left_is_not_a_suggestion() -> None:
    shown = Shown("id2", DOC, CURSOR, "pass  ")
    assert typed_through(shown, *typing("pass")) is None


def test_result_cache_keeps_finished_generations_and_forgets_the_oldest() -> None:
    cache = ResultCache(entries=2)
    cache.put("p1", 8, Generation("a", "stop"))
    cache.put("p2", 8, Generation("b", "deadline"))  # cut by the time budget: not the model's answer
    cache.put("p3", 8, Generation("c", "cancelled"))
    assert cache.get("p2", 8) is None and cache.get("p3", 8) is None
    cache.put("p4", 8, Generation("d", "length"), prefetched=True)
    assert cache.get("p1", 8) is not None  # a hit makes p1 the most recently used; p4 is now the least
    cache.put("p5", 8, Generation("e", "stop"))
    assert cache.get("p4", 8) is None  # full: the least recently used went
    hit = cache.get("p1", 8)
    assert hit is not None and hit.generation.text == "a" and not hit.prefetched
    assert cache.get("p1", 16) is None  # another length budget is another answer
    assert len(cache) == 2
