"""What the server settles once: the workspace's settings (at `initialized`), then its model (in the background).

Neither may take the server down: bad initializationOptions are reported as a warning and ignored; a bad
config file or a model that fails to load becomes the session's error (the status line shows it, completions
are empty).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import workspace
from assistant.config import Config, Resolved, ServerConfig, resolve
from assistant.errors import UserError
from assistant.modeldir import read_manifest
from server.backends.base import Backend
from server.jobs import ModelThread
from server.pipeline import Completer
from server.telemetry import Telemetry

log = logging.getLogger("assistant.server")

Loader = Callable[[ServerConfig, Path | None], Backend]
"""Loads the engine for a config and model dir (`backends.load_backend`; tests pass a fake)."""


@dataclass
class Settings:
    """The config resolved for a workspace, where its model dir and telemetry are, and what was wrong."""

    cfg: Config
    model_dir: Path | None
    telemetry: Telemetry
    warnings: list[str]
    error: str | None
    """A bad config file: no model is loaded."""


def resolve_settings(root: Path | None, overrides: dict[str, Any], options: Any, fallback: Config) -> Settings:
    """The settings for the workspace `root`: its config files, the CLI's `overrides`, then `options`.

    `options` is the client's `initializationOptions`: `{"server": {"time_budget_ms": 500, ...}}` overrides
    the [server] section, except the keys only the user's own config may set (`assistant.config`, trusted
    only): like the repository's files, a client's options are not the user's (a workspace setting, a
    plugin), so those are ignored with a warning. Bad options are reported (`warnings`) and ignored; bad
    config files set `error` and leave `fallback` in force.
    """
    client: dict[str, Any] = {}
    if isinstance(options, dict) and isinstance(options.get("server"), dict):
        client = {f"server.{k}": v for k, v in options["server"].items()}
    resolved: Resolved | None = None
    warnings: list[str] = []
    error: str | None = None
    try:
        resolved = resolve(root, overrides, client)
    except UserError as e:
        try:
            resolved = resolve(root, overrides)
        except UserError as e2:
            error = str(e2)
        else:
            warnings.append(f"initializationOptions ignored: {e}")
    cfg = fallback
    if resolved is not None:
        cfg, warnings = resolved.cfg, resolved.warnings + warnings
    for warning in warnings:
        log.warning("%s", warning)
    server = cfg.server
    model_dir = (Path(server.model_dir).expanduser() if server.model_dir
                 else workspace.model_dir(root) if root is not None else None)
    telemetry_dir = None
    if server.telemetry:
        telemetry_dir = (Path(server.telemetry_dir).expanduser() if server.telemetry_dir
                         else workspace.telemetry_dir(root) if root is not None else None)
    return Settings(cfg, model_dir, Telemetry(telemetry_dir), warnings, error)


async def load_completer(load: Loader, cfg: ServerConfig, model_dir: Path | None, model_thread: ModelThread,
                         report: Callable[[str], None]) -> Completer:
    """The completion pipeline over the engine `load` makes, loaded on the model thread."""
    report(f"loading {model_dir or cfg.base}")
    started = time.monotonic()
    backend = await model_thread.call(functools.partial(load, cfg, model_dir))
    completer = Completer(backend, cfg)
    log.info("model %s loaded in %.1f s", backend.name, time.monotonic() - started)
    return completer


def read_eval_summary(model_dir: Path | None) -> dict[str, Any] | None:
    """The metrics `assistant train` measured for the model dir's model, for the status line (None: none)."""
    if model_dir is None or not (model_dir / "model.json").is_file():
        return None
    try:
        return read_manifest(model_dir).metrics or None
    except UserError:
        return None
