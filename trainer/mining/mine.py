"""Mining: a repository's git history turned into fill-in-the-middle examples of what its authors wrote.

Run it with `assistant mine --repo PATH [--stats]` (or as the first stage of `assistant train`). For each
commit (newest first; merges against their first parent) and each changed file that passes the filters
(`trainer.mining.filters`), the text the author added becomes a middle (`trainer.mining.middles`), with the file as it
stood after the commit around it and up to two snippets of the other files changed in that commit. Every
file version is scanned for credentials before any example is cut from it (`trainer.mining.secrets`). Random
spans over the tree at the split point add coverage. Then `trainer.mining.dedupe`, the time split and recency
weights (`trainer.mining.split`), and the dataset dir (`trainer.mining.examples`).

Two long-lived git processes do all the reading: one `git log --stdin -p` for the diffs of every commit
and one `git cat-file --batch` for file contents.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from itertools import chain, islice
from pathlib import Path

from rich.console import Console

from assistant import workspace
from assistant.config import MineConfig
from assistant.errors import UserError
from assistant.languages import select
from trainer.mining.cutter import Batch, Miner, Tally
from trainer.mining.examples import Dataset, Example, config_hash, read_dataset, read_meta, write_dataset
from trainer.mining.filters import PathRules
from trainer.mining.git import BlobReader, CommitInfo, Repo, Unreadable, iter_commit_diffs
from trainer.mining.history import CommitDiff
from trainer.mining.report import MineProgress, summarize
from trainer.mining.split import holdout_count
from trainer.mining.workers import auto_workers, cut_batch, executor

MINER_VERSION = 2
"""Part of the dataset's reuse key: a dataset mined by another version of this code is mined again."""
COMMITS_PER_BATCH = 32
"""Commits whose file contents are read from git in one batch."""
def mine(repo_path: Path, cfg: MineConfig, console: Console | None = None, workers: int | None = None) -> Dataset:
    """Mine the repository at `repo_path` into a dataset (nothing is written here).

    `workers`: processes cutting examples beside this one; None: `trainer.mining.workers.auto_workers`
    decides, 0: none. The examples are the same either way.
    """
    with _no_cyclic_gc():
        return _mine(repo_path, cfg, console, workers)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector: mining builds millions of objects and no reference cycles, so the
    collector would only walk them again and again (about 15% of the time), freeing nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _mine(repo_path: Path, cfg: MineConfig, console: Console | None, workers: int | None) -> Dataset:
    started = time.monotonic()
    repo = Repo.open(repo_path)
    ref = cfg.branch or "HEAD"
    head = repo.rev_parse(ref)
    rules = PathRules.load(repo.root, select(cfg.languages))
    commits = repo.rev_list(ref, since=cfg.since, until=cfg.until, max_count=cfg.max_commits,
                            first_parent=cfg.first_parent)
    if not commits:
        raise UserError(f"no commits of {ref} fall between --since {cfg.since or '-'} and --until {cfg.until or '-'};"
                        " widen the range")
    shallow = repo.shallow_commits()
    to_diff = [c.sha for c in commits if c.sha not in shallow]
    if not to_diff:
        raise UserError(f"{repo.root} is a shallow clone with {len(commits)} commit(s) and no history to diff; "
                        "fetch it with `git fetch --unshallow` and mine again")
    tally = Tally(skipped=Counter({"shallow-boundary": len(commits) - len(to_diff)} if shallow else {}))
    _warn_about_repo(repo, cfg, head, shallow, tally, console)

    held = holdout_count(len(commits), cfg.holdout_fraction, cfg.holdout_min_commits)
    heldout_shas = {c.sha for c in commits[:held]}
    split = commits[held]
    with BlobReader(repo) as blobs, MineProgress(console, len(to_diff)) as progress:
        miner = Miner(cfg, rules, repo, blobs, tally)
        workers = auto_workers(len(to_diff)) if workers is None else workers
        examples = _history_examples(miner, iter_commit_diffs(repo, to_diff), heldout_shas, progress, console,
                                     workers)
        examples += miner.snapshot_examples(split)
    dataset = summarize(examples, tally, commits, held, cfg, started)
    if not dataset.train:
        raise UserError(_nothing_to_learn(repo, cfg, tally, bool(dataset.heldout)))
    dataset.meta.update({"repo": str(repo.root), "head": head, "ref": ref, "config_hash": config_hash(cfg),
                         "rules_digest": rules.digest, "miner": MINER_VERSION, "warnings": tally.warnings,
                         "commit_range": _commit_range(commits, split)})
    return dataset


def _history_examples(miner: Miner, stream: Iterable[CommitDiff | Unreadable], heldout: set[str],
                      progress: MineProgress, console: Console | None, workers: int) -> list[Example]:
    """The examples of every commit, a batch at a time, in order. While one batch is cut into examples (by
    a worker, when there is one), git reads the files of the next."""
    examples: list[Example] = []
    in_flight: deque[tuple[Future[tuple[list[list[Example]], Tally]], Batch, int]] = deque()

    def collect() -> None:
        future, batch, size = in_flight.popleft()
        found_per_commit, seen = future.result()
        miner.tally.merge(seen)
        for (sha, _), found in zip(batch.commits, found_per_commit, strict=True):
            miner.tally.commits += 1
            for ex in found:
                ex.split = "heldout" if sha in heldout else "train"
            examples.extend(found)
        progress.advance(size)

    pool = executor(workers, miner.cfg)
    try:
        ahead: tuple[Batch, int] | None = None
        for chunk in chain(_batched(stream, COMMITS_PER_BATCH), [[]]):  # the empty chunk flushes the last one
            for item in chunk:
                if isinstance(item, Unreadable):
                    miner.tally.skipped["unreadable-commit"] += 1
                    _warn(miner.tally, console, f"skipped commit {item.sha[:12]}: {item.message} "
                          "(run `git fsck --full` to find and repair damaged objects)")
            if ahead is not None:
                batch, size = ahead
                in_flight.append((pool.submit(cut_batch, batch, miner.receive(batch)), batch, size))
            diffs = [item for item in chunk if not isinstance(item, Unreadable)]
            ahead = (miner.plan_batch(diffs), len(chunk)) if chunk else None
            while len(in_flight) > 2 * workers:  # a worker has the next batch queued, no more
                collect()
        while in_flight:
            collect()
    finally:
        pool.shutdown(cancel_futures=True)
    return examples


def _batched(items: Iterable[CommitDiff | Unreadable], n: int) -> Iterator[list[CommitDiff | Unreadable]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _warn(tally: Tally, console: Console | None, message: str) -> None:
    tally.warnings.append(message)
    if console is not None:
        console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)


def _warn_about_repo(repo: Repo, cfg: MineConfig, head: str, shallow: set[str], tally: Tally,
                     console: Console | None) -> None:
    if not cfg.branch and repo.is_detached():
        _warn(tally, console, f"HEAD is detached at {head[:12]}: mining the history behind it "
              "(pass --branch NAME to mine a branch instead)")
    if shallow:
        _warn(tally, console, f"{repo.root} is a shallow clone: its oldest {len(shallow)} commit(s) have no parent "
              "to diff against and are skipped; `git fetch --unshallow` gives the full history")
    links = repo.gitlinks(head)
    if links:
        _warn(tally, console, f"{len(links)} submodule(s) are not mined ({', '.join(links[:3])}); "
              "mine each one on its own with --repo PATH")


def _nothing_to_learn(repo: Repo, cfg: MineConfig, tally: Tally, has_heldout: bool) -> str:
    if has_heldout:
        return (f"every example of {repo.root} falls in the held-out commits; lower mine.holdout_fraction or "
                "mine.holdout_min_commits, or mine more history")
    top = ", ".join(f"{reason} {n}" for reason, n in tally.skipped.most_common(4)) or "none"
    return (f"nothing to learn from in {tally.commits} commit(s) of {repo.root} (skipped: {top}); "
            f"check mine.languages ({', '.join(cfg.languages)}), .assistantignore and the commit range")


def _commit_range(commits: list[CommitInfo], split: CommitInfo) -> dict[str, str]:
    date = dt.datetime.fromtimestamp(split.timestamp, dt.timezone.utc).isoformat()
    return {"first": commits[-1].sha, "last": commits[0].sha, "split_commit": split.sha, "split_date": date}


def load_or_mine(repo: Repo, cfg: MineConfig, data_dir: Path, console: Console, force: bool = False) -> Dataset:
    """The dataset for the repo's current HEAD and mining config: reused if already mined, else mined now."""
    head = repo.rev_parse(cfg.branch or "HEAD")
    rules = PathRules.load(repo.root, select(cfg.languages))
    meta = read_meta(data_dir)
    if (not force and meta and meta.get("head") == head and meta.get("config_hash") == config_hash(cfg)
            and meta.get("rules_digest") == rules.digest and meta.get("miner") == MINER_VERSION):
        dataset = read_dataset(data_dir)
        console.print(f"dataset: reusing {data_dir} ({len(dataset.train)} train, {len(dataset.heldout)} held out)")
        return dataset
    dataset = mine(repo.root, cfg, console)
    if data_dir.parent == workspace.assistant_dir(repo.root):
        workspace.ensure_assistant_dir(repo.root)  # created only now: bad input leaves nothing behind
    write_dataset(data_dir, dataset)
    stats = dataset.meta["stats"]
    console.print(f"dataset: mined {len(dataset.train)} train and {len(dataset.heldout)} held-out examples "
                  f"from {stats['commits']} commits in {stats['seconds']:.1f} s ({stats['commits_per_second']:,.0f} "
                  f"commits/s) -> {data_dir}")
    return dataset
