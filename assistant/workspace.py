"""Every path under `<repo>/.assistant/`, where the tool keeps what it makes for a repository: named here once.

    <repo>/.assistant/
        .gitignore    "*": nothing in it is ever committed
        config.toml   the repository's own config (optional; `assistant.config`)
        model/        the model dir, the contract between trainer, server and export (`assistant.modeldir`)
        data/         the mined dataset (`trainer.mining.examples`)
        runs/         training runs: run.json, checkpoints (`trainer.training.runs`)
        telemetry/    local records of shown and accepted completions (`server.telemetry`)
"""

from __future__ import annotations

from pathlib import Path

ASSISTANT_DIR = ".assistant"


def assistant_dir(repo: Path) -> Path:
    return repo / ASSISTANT_DIR


def model_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "model"


def data_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "data"


def runs_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "runs"


def telemetry_dir(repo: Path) -> Path:
    return assistant_dir(repo) / "telemetry"


def config_file(repo: Path) -> Path:
    return assistant_dir(repo) / "config.toml"


def data_beside(model_dir: Path) -> Path:
    """The dataset a model dir was trained from: `data/` beside it (`<repo>/.assistant/data` for the default)."""
    return model_dir.parent / "data"


def repo_of(model_dir: Path) -> Path | None:
    """The repository a model dir in its default place belongs to, or None for a model dir elsewhere."""
    return model_dir.parent.parent if model_dir.parent.name == ASSISTANT_DIR else None


def ensure_assistant_dir(repo: Path) -> Path:
    """`<repo>/.assistant/`, created with a .gitignore so nothing in it is ever committed."""
    d = assistant_dir(repo)
    d.mkdir(parents=True, exist_ok=True)
    ignore = d / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return d
