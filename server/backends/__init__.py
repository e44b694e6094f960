"""Backends: one Protocol (`base.Backend`), one file per engine, chosen by `server.backend`."""

from __future__ import annotations

from pathlib import Path

from assistant.config import ServerConfig
from assistant.errors import UserError
from server.backends.base import Backend


def load_backend(cfg: ServerConfig, model_dir: Path | None) -> Backend:
    """Load the engine named by `cfg.backend` with the model dir's model (or `cfg.base` when there is none)."""
    if cfg.backend == "transformers":
        from assistant.hf import load_base_for_inference, load_model_dir
        from server.backends.transformers_backend import TransformersBackend

        if model_dir is not None and (model_dir / "model.json").exists():
            return TransformersBackend(load_model_dir(model_dir, cfg.profile), cfg.threads)
        if cfg.base:
            return TransformersBackend(load_base_for_inference(cfg.base, cfg.profile), cfg.threads)
        raise UserError(f"no model to serve: {model_dir or 'this workspace'} has no model dir; "
                        "run `assistant train --repo .` or set server.base")
    raise UserError(f"server.backend = {cfg.backend!r} is not available in this installation")
