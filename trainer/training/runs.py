"""The run dir of one training run, resuming the newest interrupted one, and pruning old ones.

`.assistant/runs/<id>/` holds run.json (resolved config, status, time spent, who runs it), checkpoints, the
tiny base's tokenizer as the run started, and `lock`: an flock the training process holds while it lives.
`train.py` makes a `Run` with `Run.create`, or with `Run.resume` for `--resume`: the newest run that is
interrupted (status 'running' while no process holds its lock: killed, crashed or stopped) and has a
checkpoint, under its own config. A run whose lock is held is live and never taken or deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.config import Config, set_value, to_dict
from assistant.errors import UserError
from assistant.modeldir import atomic_write_text
from assistant.workspace import holder_record, try_flock

LOCK = "lock"


class Run:
    def __init__(self, run_dir: Path, info: dict[str, Any], lock_fd: int) -> None:
        self.dir = run_dir
        self.info = info
        self._lock_fd: int | None = lock_fd
        """Held until `release` (or the process's end): a live run is never resumed or pruned elsewhere."""

    @classmethod
    def create(cls, runs_dir: Path, cfg: Config) -> Run:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True)
        fd = try_flock(run_dir / LOCK)
        if fd is None:
            raise UserError(f"{run_dir} was taken by another process as it was made; run again")
        run = cls(run_dir, {"status": "running", "config": to_dict(cfg), "seconds": 0.0,
                            "started": datetime.now().isoformat(timespec="seconds"),
                            "process": holder_record("assistant train")}, fd)
        run._save()
        return run

    @classmethod
    def resume(cls, runs_dir: Path) -> Run:
        """The newest interrupted run with a checkpoint, now locked by this process; or UserError."""
        live = []
        for path in sorted(runs_dir.glob("*/run.json"), reverse=True) if runs_dir.is_dir() else []:
            info = read_info(path)
            if info is None or info.get("status") != "running" or not last_checkpoint(path.parent):
                continue
            fd = try_flock(path.parent / LOCK)
            if fd is None:  # its process is alive: training, not interrupted
                live.append(path.parent.name)
                continue
            info["process"] = holder_record("assistant train --resume")
            run = cls(path.parent, info, fd)
            run._save()
            return run
        still = f" ({', '.join(live)} still training)" if live else ""
        raise UserError(f"no interrupted run with a checkpoint in {runs_dir}{still}; start a new run without --resume")

    @property
    def config(self) -> Config:
        cfg = Config()
        for section, values in self.info["config"].items():
            for key, value in values.items():
                set_value(cfg, f"{section}.{key}", value, source=str(self.dir / "run.json"))
        return cfg

    def last_checkpoint(self) -> str | None:
        return last_checkpoint(self.dir)

    def previous_seconds(self) -> float:
        return float(self.info.get("seconds", 0.0))

    def checkpoint_time(self, seconds: float) -> None:
        self.info["seconds"] = seconds
        self._save()

    def finish(self, seconds: float) -> None:
        self.info.update(status="done", seconds=round(seconds, 1))
        self._save()

    def release(self) -> None:
        """Let go of the run's lock: from now on another process may resume (if unfinished) or prune it."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _save(self) -> None:
        atomic_write_text(self.dir / "run.json", json.dumps(self.info, indent=2) + "\n")


def read_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def last_checkpoint(run_dir: Path) -> str | None:
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    if not checkpoints:
        return None
    return str(max(checkpoints, key=lambda p: int(p.name.split("-")[-1])))


def prune_runs(runs_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` run dirs (checkpoints and all), never a live one; returns the deleted ids.

    Only dirs with a run.json are runs; anything else under runs/ is left alone."""
    runs = sorted((p.parent for p in runs_dir.glob("*/run.json")), key=lambda p: p.name, reverse=True)
    deleted = []
    for run_dir in runs[keep:]:
        fd = try_flock(run_dir / LOCK)
        if fd is None:  # a live run (another process trains it): never pulled from under it
            continue
        try:
            shutil.rmtree(run_dir, ignore_errors=True)
        finally:
            os.close(fd)
        deleted.append(run_dir.name)
    return deleted
