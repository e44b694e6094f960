"""Mining speed: the streaming miner against a straightforward GitPython per-commit-diff baseline.

    .venv/bin/python bench/mine.py [--commits 3000] [--baseline-commits 300] [--keep DIR]

Builds a synthetic repository with `git fast-import` (Python modules that grow by added functions and
in-line edits, with new, renamed and deleted files now and then), then mines it twice in the same run:
- ours: `trainer.mining.mine.mine` with the default config (secret scan, snippets, dedupe, random spans included);
- baseline: GitPython, one `git diff` per commit against its first parent (`create_patch=True`), each
  changed blob read and every added line-run cut into a hunk example with its prefix and suffix. It does
  less than ours (no secret scan, snippets or dedupe), so the ratio is conservative. It diffs an even
  sample of `--baseline-commits` commits (every n-th, old and new alike) and its time is scaled to the
  whole history (said in the output).
Prints both speeds in commits/s, the time for the whole history, and the ratio (target: >= 10x, and
3,000 commits in under a minute).
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.config import MineConfig
from trainer.mining.mine import mine

MODULES = 150
"""Files at the start; each begins with 8 functions (~60 lines) and grows by one now and then."""
WORDS = ["value", "count", "total", "items", "record", "parse", "build", "check", "index", "cache", "state",
         "limit", "offset", "result", "buffer", "token", "entry", "batch", "filter", "merge"]


def function_source(rng: random.Random, n: int | str) -> str:
    a, b, c = rng.sample(WORDS, 3)
    return (f"def {a}_{b}_{n}({c}, {b}=None):\n"
            f'    """Return the {a} of {c} by {b}."""\n'
            f"    if {b} is None:\n"
            f"        {b} = len({c})\n"
            f"    {a} = [x for x in {c} if x != {b}]\n"
            f"    return sum({a}) + {rng.randint(0, 999)}\n\n\n")


def grow(text: str, rng: random.Random, n: int) -> str:
    """Insert a function at a blank-line boundary, or edit a number inside a line."""
    if rng.random() < 0.3 and re.search(r"\+ \d+", text):
        hits = list(re.finditer(r"\+ (\d+)", text))
        m = rng.choice(hits)
        return text[:m.start(1)] + str(rng.randint(1000, 99999)) + text[m.end(1):]
    cuts = [m.end() for m in re.finditer(r"\n\n\n", text)] or [len(text)]
    at = rng.choice(cuts)
    return text[:at] + function_source(rng, n) + text[at:]


def fast_import_stream(commits: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    files = {f"pkg/mod_{i}.py": f'"""Module {i}."""\n\n\n' + "".join(function_source(rng, f"{i}_{k}") for k in range(8))
             for i in range(MODULES)}
    out: list[bytes] = []
    for n in range(commits):
        ops: list[str] = [] if n else [_add(path, text) for path, text in files.items()]
        if n % 97 == 50:
            old = rng.choice(sorted(files))
            new = old.replace(".py", f"_r{n}.py")
            files[new] = files.pop(old)
            ops.append(f"R {old} {new}")
        if n % 131 == 70 and len(files) > 10:
            gone = rng.choice(sorted(files))
            del files[gone]
            ops.append(f"D {gone}")
        if n % 53 == 20:
            files[f"pkg/new_{n}.py"] = f'"""Module added in {n}."""\n\n\n' + function_source(rng, n)
            ops.append(_add(f"pkg/new_{n}.py", files[f"pkg/new_{n}.py"]))
        for path in rng.sample(sorted(files), rng.randint(1, 3)):
            files[path] = grow(files[path], rng, n)
            ops.append(_add(path, files[path]))
        msg = f"change {n}".encode()
        when = 1_600_000_000 + n * 3600
        out.append(f"commit refs/heads/main\ncommitter Bench <b@example.com> {when} +0000\n"
                   f"data {len(msg)}\n{msg.decode()}\n".encode())
        out.append("\n".join(ops).encode() + b"\n\n")
    return b"".join(out)


def _add(path: str, text: str) -> str:
    return f"M 100644 inline {path}\ndata {len(text.encode())}\n{text}"


def build_repo(root: Path, commits: int) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"], input=fast_import_stream(commits), check=True)
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "main"], check=True)
    return root


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def added_runs(patch: str) -> list[tuple[int, int]]:
    """(first line, count) of each run of added lines in a unified diff, new-file line numbers (0-based)."""
    runs: list[tuple[int, int]] = []
    line_no, start, count = 0, 0, 0
    for line in patch.splitlines():
        if line.startswith("+"):
            start, count = (start, count + 1) if count else (line_no, 1)
            line_no += 1
            continue
        if count:
            runs.append((start, count))
            count = 0
        m = _HUNK.match(line)
        if m:
            line_no = int(m.group(1)) - 1
        elif line.startswith(" "):
            line_no += 1
    if count:
        runs.append((start, count))
    return runs


def baseline(root: Path, sample: int, total: int, context_chars: int = 4000) -> tuple[int, int, float]:
    """(commits, examples, seconds) for GitPython, one diff per commit, on every n-th of `total` commits."""
    import git

    started = time.monotonic()
    repo = git.Repo(root)
    examples = commits = 0
    step = max(1, total // sample)
    for i, commit in enumerate(repo.iter_commits("HEAD")):
        if i % step:
            continue
        if commit.parents:
            diffs = commit.parents[0].diff(commit, create_patch=True)
        else:
            diffs = commit.diff(git.NULL_TREE, create_patch=True, R=True)
        for d in diffs:
            if d.deleted_file or d.b_blob is None or not (d.b_path or "").endswith(".py"):
                continue
            text = d.b_blob.data_stream.read().decode("utf-8", "replace")
            offsets = list(accumulate(map(len, text.splitlines(keepends=True)), initial=0))
            patch = d.diff.decode("utf-8", "replace") if isinstance(d.diff, bytes) else str(d.diff)
            for start, count in added_runs(patch):
                begin, end = offsets[start], offsets[min(start + count, len(offsets) - 1)]
                _example = (text[max(0, begin - context_chars):begin], text[begin:end], text[end:end + context_chars])
                examples += 1
        commits += 1
    return commits, examples, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--baseline-commits", type=int, default=300)
    ap.add_argument("--keep", type=Path, help="Build the repository here and keep it.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "synthetic"
        t0 = time.monotonic()
        build_repo(root, args.commits)
        print(f"built {args.commits} commits with git fast-import in {time.monotonic() - t0:.1f} s")

        t0 = time.monotonic()
        dataset = mine(root, MineConfig())
        ours_s = time.monotonic() - t0
        stats = dataset.meta["stats"]
        ours_rate = stats["commits"] / ours_s
        print(f"ours:     {stats['commits']} commits in {ours_s:.1f} s = {ours_rate:,.0f} commits/s "
              f"({stats['train']} train + {stats['heldout']} held-out examples)")

        n, examples, base_s = baseline(root, args.baseline_commits, args.commits)
        base_rate = n / base_s
        print(f"baseline: {n} commits (every {args.commits // n}th) in {base_s:.1f} s = {base_rate:,.0f} commits/s "
              f"({examples} examples); scaled to {args.commits} commits: {args.commits / base_rate:.1f} s")
        ratio = ours_rate / base_rate
        verdict = "ok" if ratio >= 10 and (args.commits < 3000 or ours_s < 60) else "BELOW TARGET"
        print(f"ratio: {ratio:.1f}x faster (target >= 10x; {args.commits} commits in {ours_s:.1f} s) {verdict}")


if __name__ == "__main__":
    main()
