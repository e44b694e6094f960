"""`assistant config`: the resolved configuration, with where each key can be set and what it does."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assistant.cli.common import resolve_config


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose config files to read."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved config as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print every key with its default and help as a "
                                  "Markdown table (the README's table)."),
) -> None:
    """Show the resolved configuration (defaults, then ~/.config/assistant/config.toml, then the repo's files)."""
    from rich.console import Console
    from rich.table import Table

    from assistant.config import config_files, describe, to_dict

    if markdown:
        print(markdown_table())
        return
    cfg = resolve_config(repo, {})
    if as_json:
        print(json.dumps(to_dict(cfg), indent=2))
        return
    values = to_dict(cfg)
    table = Table(title="assistant config (" + (", ".join(map(str, config_files(repo))) or "defaults only") + ")")
    for col in ("key", "value", "help"):
        table.add_column(col, overflow="fold")
    for key, _default, help_text in describe():
        section, name = key.split(".")
        table.add_row(key, repr(values[section][name]), help_text)
    Console().print(table)


def markdown_table() -> str:
    from assistant.config import describe

    rows = ["| key | default | what it does |", "| --- | --- | --- |"]
    for key, default, help_text in describe():
        shown = json.dumps(default, ensure_ascii=False)
        rows.append(f"| `{key}` | `{shown}` | {help_text.replace('|', '/')} |")
    return "\n".join(rows)
