"""Mining real, hand-built histories: the exact examples, split, weights and snippets that come out."""

from __future__ import annotations

import os
from dataclasses import replace

from assistant.config import MineConfig
from trainer.mining.examples import Example
from trainer.mining.mine import mine
from trainer.mining.split import holdout_count, recency_weight

DAY = 86_400
T0 = 1_700_000_000
QUIET = MineConfig(random_spans_per_file=0, holdout_fraction=0.0, recency_half_life_days=0.0)


def rows(examples: list[Example]) -> list[tuple[str, str, str, str, str]]:
    return [(e.path, e.kind, e.prefix, e.middle, e.suffix) for e in examples]


def test_hunks_and_in_line_spans_with_the_file_after_the_commit_around_them(make_repo) -> None:
    repo = make_repo()
    c1 = repo.commit({"app.py": "def add(a, b):\n    return a + b\n"}, date=T0)
    c2 = repo.commit({"app.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"},
                     date=T0 + DAY)
    c3 = repo.commit({"app.py": "def add(a, b, c=0):\n    return a + b + c\n\n\ndef mul(a, b):\n    return a * b\n"},
                     date=T0 + 2 * DAY)
    ds = mine(repo.root, QUIET)
    assert ds.heldout == []
    assert rows(ds.train) == [
        ("app.py", "span", "def add(a, b", ", c=0", "):\n    return a + b + c\n\n\ndef mul(a, b):\n    return a * b\n"),
        ("app.py", "span", "def add(a, b, c=0):\n    return a + b", " + c", "\n\n\ndef mul(a, b):\n    return a * b\n"),
        # The blank lines before the new function stay in the prefix: the author types them first.
        ("app.py", "hunk", "def add(a, b):\n    return a + b\n\n\n", "def mul(a, b):\n    return a * b\n", ""),
        ("app.py", "hunk", "", "def add(a, b):\n    return a + b\n", ""),
    ]
    assert [(e.commit, e.timestamp, e.weight, e.split) for e in ds.train] == [
        (c3, T0 + 2 * DAY, 1.0, "train"), (c3, T0 + 2 * DAY, 1.0, "train"),
        (c2, T0 + DAY, 1.0, "train"), (c1, T0, 1.0, "train")]


def test_a_rewritten_line_is_a_hunk_and_long_hunks_come_in_pieces(make_repo) -> None:
    repo = make_repo()
    repo.commit({"m.py": "value = compute(1)\n"})
    repo.commit({"m.py": "result = other(2)\n" + "".join(f"x{i} = {i}\n" for i in range(5))})
    ds = mine(repo.root, replace(QUIET, max_middle_lines=2))
    assert [(e.kind, e.middle) for e in ds.train[:3]] == [
        ("hunk", "result = other(2)\nx0 = 0\n"), ("hunk", "x1 = 1\nx2 = 2\n"), ("hunk", "x3 = 3\nx4 = 4\n")]


def test_context_is_cut_at_line_boundaries(make_repo) -> None:
    repo = make_repo()
    before = "".join(f"line_{i:03d} = {i}\n" for i in range(40))  # 14 characters a line
    repo.commit({"c.py": before + before})
    repo.commit({"c.py": before + "middle = True\n" + before})
    [newest, _] = mine(repo.root, replace(QUIET, context_chars=100)).train[:2]
    assert newest.middle == "middle = True\n"
    assert newest.prefix == "".join(f"line_{i:03d} = {i}\n" for i in range(33, 40))  # 98 chars: 7 whole lines
    assert newest.suffix == "".join(f"line_{i:03d} = {i}\n" for i in range(7))


def test_the_newest_commits_are_held_out_and_weights_follow_recency(make_repo) -> None:
    repo = make_repo()
    shas = [repo.commit({f"f{i}.py": f"def f{i}():\n    return {i}\n"}, date=T0 + i * 90 * DAY) for i in range(8)]
    cfg = replace(QUIET, holdout_fraction=0.25, holdout_min_commits=0, recency_half_life_days=180.0)
    ds = mine(repo.root, cfg)
    assert [e.commit for e in ds.heldout] == [shas[7], shas[6]]
    assert all(e.split == "heldout" and e.weight == 1.0 for e in ds.heldout)
    assert [e.commit for e in ds.train] == shas[5::-1]
    # The newest training commit (day 450) weighs 1; every 180 days before it halves the weight.
    assert [e.weight for e in ds.train] == [recency_weight(T0 + i * 90 * DAY, T0 + 5 * 90 * DAY, 180.0)
                                             for i in range(5, -1, -1)]
    assert [e.weight for e in ds.train] == [1.0, 0.707107, 0.5, 0.353553, 0.25, 0.176777]
    cr = ds.meta["commit_range"]
    assert (cr["first"], cr["last"], cr["split_commit"]) == (shas[0], shas[7], shas[5])
    assert cr["split_date"] == "2025-02-06T22:13:20+00:00"  # T0 + 450 days
    assert ds.meta["stats"]["heldout_commits"] == 2


def test_holdout_count() -> None:
    assert holdout_count(3000, 0.05, 20) == 150
    assert holdout_count(200, 0.05, 20) == 20   # the minimum, when three quarters remain for training
    assert holdout_count(40, 0.05, 20) == 10    # a quarter of a short history
    assert holdout_count(6, 0.05, 20) == 1
    assert holdout_count(2, 0.5, 20) == 1       # one commit always stays for training
    assert holdout_count(1, 0.05, 20) == 0
    assert holdout_count(100, 0.0, 20) == 0     # off


def test_random_spans_come_from_the_tree_at_the_split_point_not_head(make_repo) -> None:
    repo = make_repo()
    old = "".join(f"def old_{i}():\n    return {i}\n\n" for i in range(10))
    repo.commit({"a.py": old})
    split = repo.commit({"b.py": "B = 1\n"})
    repo.commit({"a.py": old + "def leaked():\n    return 'held out'\n", "c.py": "C = 3\n"})
    cfg = replace(QUIET, random_spans_per_file=3, holdout_fraction=0.3, holdout_min_commits=0)
    ds = mine(repo.root, cfg)
    randoms = [e for e in ds.train if e.kind == "random"]
    assert {e.path for e in randoms} == {"a.py", "b.py"}
    assert all(e.commit == split and e.split == "train" for e in randoms)
    texts = {"a.py": old, "b.py": "B = 1\n"}
    assert all(e.prefix + e.middle + e.suffix == texts[e.path] for e in randoms)
    assert not any("leaked" in e.prefix + e.middle + e.suffix for e in ds.train)
    assert [e.middle for e in ds.heldout] == ["def leaked():\n    return 'held out'\n", "C = 3\n"]
    # Same seed, same spans.
    assert rows(mine(repo.root, cfg).train) == rows(ds.train)


def test_renames_copies_deletions_and_mode_changes_give_only_what_was_written(make_repo) -> None:
    repo = make_repo()
    base = "".join(f"row_{i} = {i}\n" for i in range(6))
    repo.commit({"a.py": base, "b.py": base.replace("row", "col")})
    repo.git("mv", "a.py", "moved.py")
    repo.commit(message="pure rename")
    repo.git("mv", "b.py", "b2.py")
    repo.commit({"b2.py": base.replace("row", "col") + "col_10 = 10\n"}, message="rename and edit")
    (repo.root / "moved.py").unlink()
    repo.commit(message="delete")
    os.chmod(repo.root / "b2.py", 0o755)
    repo.commit(message="mode only")
    repo.commit({"b2.py": base.replace("row", "col") + "col_10 = 10\ncol_11 = 11\n",
                 "c.py": base.replace("row", "col") + "col_10 = 10\nfrom_copy = 1\n"}, message="copy")
    ds = mine(repo.root, QUIET)
    assert [(e.path, e.middle) for e in ds.train] == [
        ("b2.py", "col_11 = 11\n"), ("c.py", "from_copy = 1\n"),
        ("b2.py", "col_10 = 10\n"),
        ("a.py", base), ("b.py", base.replace("row", "col"))]
    assert ds.meta["stats"]["commits"] == 6


def test_merges_count_once_against_their_first_parent(make_repo) -> None:
    repo = make_repo()
    repo.commit({"main.py": "a = 1\n", "side.py": "s = 1\n"}, date=T0)
    repo.git("checkout", "-q", "-b", "side")
    side = repo.commit({"side.py": "s = 1\ns = 2\n"}, message="side work", date=T0 + DAY)
    repo.git("checkout", "-q", "main")
    main_work = repo.commit({"main.py": "a = 1\na = 2\n"}, message="main work", date=T0 + 2 * DAY)
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side", date=T0 + 3 * DAY)
    merge = repo.git("rev-parse", "HEAD").strip()
    everything = mine(repo.root, QUIET)
    # The side commit's change comes again in the merge: the newer copy stays, the older is a duplicate.
    assert [(e.commit, e.path, e.middle) for e in everything.train[:2]] == [
        (merge, "side.py", "s = 2\n"), (main_work, "main.py", "a = 2\n")]
    assert side not in {e.commit for e in everything.train}
    assert everything.meta["stats"]["skipped"]["duplicate"] == 1
    mainline = mine(repo.root, replace(QUIET, first_parent=True))
    assert mainline.meta["stats"]["commits"] == 3
    assert [e.middle for e in mainline.train[:2]] == ["s = 2\n", "a = 2\n"]


def test_exact_and_near_duplicate_middles_of_a_file_are_dropped(make_repo) -> None:
    repo = make_repo()
    body = "def helper(items):\n    return [item.strip() for item in items if item]\n"
    near = body.replace("items", "entries")  # 91% similar, whitespace aside
    repo.commit({"h.py": "X = 1\n"})
    repo.commit({"h.py": "X = 1\n" + body})
    repo.commit({"h.py": "X = 1\n"}, message="revert")
    repo.commit({"h.py": "X = 1\n" + body}, message="again: the same example as two commits ago")
    repo.commit({"n.py": near})
    repo.commit({"n.py": near + "\n" + body}, message="a near copy of a middle of the same file")
    repo.commit({"other.py": body}, message="the same middle in another file is kept")
    ds = mine(repo.root, QUIET)
    # Newest first: the newer of two copies is kept.
    assert [(e.path, e.middle) for e in ds.train] == [
        ("other.py", body), ("n.py", body), ("h.py", body), ("h.py", "X = 1\n")]
    assert ds.meta["stats"]["skipped"] == {"duplicate": 1, "near-duplicate": 1}


def test_snippets_come_from_other_files_of_the_same_commit(make_repo) -> None:
    repo = make_repo()
    helpers = "def parse_config(path):\n    with open(path) as handle:\n        return handle.read()\n"
    main = "from helpers import parse_config\n\nconfig = parse_config('app.toml')\n"
    repo.commit({"helpers.py": helpers, "main.py": main, "README.md": "parse_config reads the config\n"})
    ds = mine(repo.root, QUIET)
    by_path = {e.path: e for e in ds.train}
    assert by_path["main.py"].snippets == []  # its prefix is empty: nothing to resemble
    assert by_path["helpers.py"].snippets == []
    repo.commit({"helpers.py": helpers + "\n\ndef parse_json(path):\n    return parse_config(path)\n",
                 "main.py": main + "data = parse_config('data.json')\n"})
    newest = next(e for e in mine(repo.root, QUIET).train if e.path == "main.py")
    assert newest.middle == "data = parse_config('data.json')\n"
    assert newest.snippets == [["helpers.py", (helpers + "\n\ndef parse_json(path):\n    return parse_config(path)")]]


def test_language_selection(make_repo) -> None:
    repo = make_repo()
    repo.commit({"a.py": "x = 1\n", "cmd/main.go": "package main\n", "web/app.ts": "let x = 1;\n"})
    ds = mine(repo.root, replace(QUIET, languages=["go", "typescript"]))
    assert sorted(e.path for e in ds.train) == ["cmd/main.go", "web/app.ts"]
    assert ds.meta["stats"]["skipped"] == {"language": 1}
    assert ds.meta["stats"]["languages"] == {"go": 1, "typescript": 1}


def test_a_worker_process_gives_the_same_dataset(make_repo) -> None:
    repo = make_repo()
    for i in range(12):
        repo.commit({f"pkg/m{i % 4}.py": "".join(f"def f{i}_{k}(x):\n    return helper(x) + {k}\n\n"
                                                 for k in range(i + 1)),
                     "pkg/shared.py": f"def helper(x):\n    return x * {i}\n", "notes.md": f"note {i}\n"})
    repo.commit({"pkg/conf.py": 'db_password = "hunter2-hunter2"\n', "data.bin": b"\x00\x01" * 10})
    cfg = replace(QUIET, random_spans_per_file=1, holdout_fraction=0.2, holdout_min_commits=0)
    here, forked = mine(repo.root, cfg, workers=0), mine(repo.root, cfg, workers=1)

    def everything(ds):
        return [(e.path, e.kind, e.prefix, e.middle, e.suffix, e.commit, e.weight, e.split, e.snippets)
                for e in ds.train + ds.heldout]

    assert everything(forked) == everything(here) and len(everything(here)) > 20
    assert any(e.snippets for e in here.train)
    timing = ("seconds", "commits_per_second")
    assert {k: v for k, v in forked.meta["stats"].items() if k not in timing} == \
        {k: v for k, v in here.meta["stats"].items() if k not in timing}
    assert here.meta["stats"]["secrets"] == {"password-assignment": 1}
