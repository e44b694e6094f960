"""Training callbacks: a rich progress bar with loss and ETA (and the loss history for the plot), a time
limit, graceful stop on Ctrl-C / SIGTERM with a checkpoint, and the run's clock."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


class RichProgress(TrainerCallback):
    """Shows steps, loss and ETA; records (step, loss) and (step, val loss) for the loss curve."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.train_loss: list[tuple[int, float]] = []
        self.val_loss: list[tuple[int, float]] = []
        self._progress: Progress | None = None
        self._task: Any = None
        self._last = ""
        self.started = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step, info=self._last)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" in logs:
            self.train_loss.append((state.global_step, float(logs["loss"])))
        if "eval_loss" in logs:
            self.val_loss.append((state.global_step, float(logs["eval_loss"])))
        parts = []
        if self.train_loss:
            parts.append(f"loss {self.train_loss[-1][1]:.3f}")
        if self.val_loss:
            parts.append(f"val {self.val_loss[-1][1]:.3f}")
        self._last = "  ".join(parts)
        if self._progress is not None:
            self._progress.update(self._task, info=self._last)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step, info=self._last)
            self._progress.stop()
            self._progress = None


class TimeLimit(TrainerCallback):
    """Stops training (cleanly, with a final save) after `minutes`."""

    def __init__(self, minutes: float) -> None:
        self.deadline = time.monotonic() + minutes * 60 if minutes > 0 else None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            control.should_training_stop = True


class GracefulStop(TrainerCallback):
    """Ctrl-C or SIGTERM: finish the current step, save a checkpoint, stop; a second Ctrl-C aborts at once."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.requested = False
        self._previous: dict[int, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.console.print("[yellow]stopping after this step and saving a checkpoint "
                           "(Ctrl-C again to abort without saving)[/]")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class RunClock(TrainerCallback):
    """Keeps the run's wall time in run.json at every checkpoint, so a resumed run reports the whole time."""

    def __init__(self, save_seconds: Callable[[float], None], previous: float) -> None:
        self.save_seconds = save_seconds
        self.previous = previous
        self.started = time.monotonic()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.save_seconds(self.previous + time.monotonic() - self.started)
