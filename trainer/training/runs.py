"""The run dir of one training run, and resuming the newest unfinished one.

`.assistant/runs/<id>/` holds run.json (resolved config, status, time spent), checkpoints and, for the
tiny base, the tokenizer the run started with. `train.py` makes a `Run` with `Run.create`, or with
`Run.resume` for `--resume` (the newest unfinished run with a checkpoint, under its own config).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.config import Config, set_value, to_dict
from assistant.errors import UserError
from assistant.modeldir import atomic_write_text


class Run:
    def __init__(self, run_dir: Path, info: dict[str, Any]) -> None:
        self.dir = run_dir
        self.info = info

    @classmethod
    def create(cls, runs_dir: Path, cfg: Config) -> Run:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
        run = cls(runs_dir / run_id, {"status": "running", "config": to_dict(cfg), "seconds": 0.0,
                                      "started": datetime.now().isoformat(timespec="seconds")})
        run.dir.mkdir(parents=True)
        run._save()
        return run

    @classmethod
    def resume(cls, runs_dir: Path) -> Run:
        """The newest run that did not finish and has a checkpoint, or UserError."""
        candidates = sorted(runs_dir.glob("*/run.json"), reverse=True) if runs_dir.is_dir() else []
        for path in candidates:
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            run = cls(path.parent, info)
            if info.get("status") == "running" and run.last_checkpoint():
                return run
        raise UserError(f"no interrupted run with a checkpoint in {runs_dir}; start a new run without --resume")

    @property
    def config(self) -> Config:
        cfg = Config()
        for section, values in self.info["config"].items():
            for key, value in values.items():
                set_value(cfg, f"{section}.{key}", value, source=str(self.dir / "run.json"))
        return cfg

    def last_checkpoint(self) -> str | None:
        checkpoints = [p for p in self.dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
        if not checkpoints:
            return None
        return str(max(checkpoints, key=lambda p: int(p.name.split("-")[-1])))

    def previous_seconds(self) -> float:
        return float(self.info.get("seconds", 0.0))

    def checkpoint_time(self, seconds: float) -> None:
        self.info["seconds"] = seconds
        self._save()

    def finish(self, seconds: float) -> None:
        self.info.update(status="done", seconds=round(seconds, 1))
        self._save()

    def _save(self) -> None:
        atomic_write_text(self.dir / "run.json", json.dumps(self.info, indent=2) + "\n")
