"""Pieces the commands share: repo resolution, config with CLI overrides, the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from assistant.config import Config, load_config

console = Console(stderr=True, highlight=False)
"""Progress and reports go to stderr; stdout carries only results (completions, JSON)."""


def resolve_config(repo: Path | None, overrides: dict[str, Any]) -> Config:
    return load_config(repo, overrides)


def git_root_of(path: Path) -> Path | None:
    """The work tree root containing `path`, or None."""
    import subprocess

    start = path if path.is_dir() else path.parent
    proc = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None
