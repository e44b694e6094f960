"""`assistant pull ID`: download a base model from the Hugging Face hub, so later commands run offline."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(
    model_id: str = typer.Argument(..., help="Hugging Face model id, for example Qwen/Qwen2.5-Coder-0.5B."),
    revision: str = typer.Option(None, "--revision", help="Branch, tag or commit (default: main)."),
) -> None:
    """Download a base model's safetensors weights, config and tokenizer (the one command besides
    `train --base ID` that uses the network); then `assistant train --base ID` works offline."""
    from assistant.network import pull as download

    path = download(model_id, revision)
    print(f"{model_id}: {path}")
