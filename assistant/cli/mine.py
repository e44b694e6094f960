"""`assistant mine`: turn the repository's git history into the training dataset (`.assistant/data/`).

    assistant mine --repo . --stats
    assistant mine --repo . --since "6 months ago" --max-commits 2000 --first-parent

The dataset is reused (by this command, `train` and `eval`) while HEAD, the mining config and the
.assistantignore/.gitattributes rules are unchanged; `--force` mines again anyway.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from assistant import workspace
from assistant.cli.common import console, resolve_config


def register(app: typer.Typer) -> None:
    app.command("mine")(mine)


def mine(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository to mine."),
    stats: bool = typer.Option(False, "--stats", help="Print the dataset's stats as a table on stdout."),
    since: str = typer.Option(None, "--since", help="Only commits after this date (e.g. 2024-01-31, '6 months ago')."),
    until: str = typer.Option(None, "--until", help="Only commits before this date."),
    max_commits: int = typer.Option(None, "--max-commits", help="Mine at most this many of the newest commits."),
    first_parent: bool = typer.Option(None, "--first-parent/--all-parents",
                                      help="Follow only the first parent of merges (mainline history)."),
    branch: str = typer.Option(None, "--branch", help="Branch, tag or commit to mine (default: HEAD)."),
    force: bool = typer.Option(False, "--force", help="Mine again even when the dataset could be reused."),
) -> None:
    """Mine the git history into fill-in-the-middle examples (train and held-out) with stats."""
    from trainer.mining.git import Repo

    git_repo = Repo.open(repo)
    cfg = resolve_config(git_repo.root, {
        "mine.since": since, "mine.until": until, "mine.max_commits": max_commits,
        "mine.first_parent": first_parent, "mine.branch": branch,
    })
    from trainer.mining.mine import load_or_mine
    from trainer.mining.report import stats_table

    with workspace.repo_lock(git_repo.root, "mine"):  # not while a train (or another mine) writes the dataset
        dataset = load_or_mine(git_repo, cfg.mine, workspace.data_dir(git_repo.root), console, force=force)
    if stats:
        Console(highlight=False).print(stats_table(dataset.meta))
