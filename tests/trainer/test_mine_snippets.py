"""The miner's snippet index ranks exactly as `assistant.snippets.rank_snippets`, the server's ranking.

If the server's ranking changes, this test says the miner's index must follow (train and serve agree).
"""

from __future__ import annotations

import random

from assistant.snippets import query_of, rank_snippets
from trainer.snippet_index import SnippetIndex

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
