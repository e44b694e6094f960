"""`assistant.snippets` ranks exactly as the plain rule in `snippet_oracle` says, for the miner's index (many
queries over a commit's files) and for the server's open documents (kept built between requests)."""

from __future__ import annotations

import random

from helpers import pattern_module
from snippet_oracle import query_of, rank_snippets

from assistant.snippets import SnippetIndex, rank_documents

WORDS = ["load", "save", "parse", "config", "items", "value", "result", "cache", "index", "token", "path"]


def source(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        shape = rng.random()
        if shape < 0.15:
            out.append("")
        elif shape < 0.2:
            out.append("   \t")
        else:
            a, b, c = rng.sample(WORDS, 3)
            out.append(f"    {a}_{b} = {c}({a}, {rng.randint(0, 9)})")
    return "\n".join(out) + rng.choice(["\n", "", "\n\n"])


ODD = [
    ("blank_run.py", "x = load(path)\n" + "\n" * 45 + "  \n" * 5 + "y = save(path)\n"),
    ("short.py", "config = parse(path)\n"),
    ("empty.py", ""),
    ("spaces.py", "   \n\t\n" * 15),
    ("crlf.py", "value = load(path)\r\ncache = parse(value)\r\n" * 30),
    ("breaks.py", "items = load(path)\x0cresult = save(items)\u2028" * 25),
    ("exact_21.py", "".join(f"token_{i} = index({i})\n" for i in range(21))),
]


def test_rank_matches_rank_snippets_on_many_documents_and_queries() -> None:
    rng = random.Random(7)
    corpus = [(f"gen_{i}.py", source(rng, rng.randint(0, 120))) for i in range(40)] + ODD
    compared = found = 0
    for _ in range(300):
        docs = rng.sample(corpus, rng.randint(1, 5))
        index = SnippetIndex(docs)
        presplit = SnippetIndex(docs, [text.split("\n") for _, text in docs])  # as the miner gives them
        own_path, own_text = rng.choice(corpus)
        prefix = own_text[:rng.randint(0, len(own_text))]
        expected = rank_snippets(query_of(prefix), [d for d in docs if d[0] != own_path], top_k=2)
        assert index.rank(prefix, 2, exclude=own_path) == expected
        assert presplit.rank(prefix, 2, exclude=own_path) == expected
        compared += 1
        found += len(expected)
    assert compared == 300 and found > 200  # the comparison covered real picks, not only empty answers


def test_open_document_ranking_is_exactly_rank_snippets() -> None:
    docs = [(f"pkg/m{i}.py", pattern_module(i)) for i in range(5)] + [("notes.md", "nothing alike here\n" * 30)]
    docs.append(("pkg/tie.py", pattern_module(1)))  # the same text under another path: ties go by path
    for query in (pattern_module(3)[:400], "request value register handle_1_4", "zzz", ""):
        for top_k in (1, 2, 5):
            expected = rank_snippets(query, docs, top_k=top_k, size=20)
            assert rank_documents(query, docs, top_k) == expected
            assert rank_documents(query, docs, top_k) == expected  # from the built documents, the same
