"""Training callbacks: progress with loss and ETA (and the loss history for the plot), a time limit,
graceful stop on Ctrl-C / SIGTERM with a checkpoint, and the run's clock.

Progress is a rich bar on a terminal; when the console is not one (a redirected log, CI), the bar would show
nothing until the end, so plain lines are printed instead: every `every_steps` steps or `every_seconds`,
whichever comes first, and at the last step.
"""

from __future__ import annotations

import datetime
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


class RichProgress(TrainerCallback):
    """Shows steps, loss and ETA; records (step, loss) and (step, val loss) for the loss curve.

    A rich bar on a terminal; otherwise a plain line (step/total, loss, tokens/s, ETA) every `every_steps`
    steps (default: a twentieth of the run) or every `every_seconds`, whichever comes first.
    """

    def __init__(self, console: Console, every_steps: int = 0, every_seconds: float = 30.0) -> None:
        self.console = console
        self.train_loss: list[tuple[int, float]] = []
        self.val_loss: list[tuple[int, float]] = []
        self._progress: Progress | None = None
        self._task: Any = None
        self._last = ""
        self.started = time.monotonic()
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self._lines = LineClock()
        self._every = every_steps or 1
        self._line_due = False  # a plain line waits for the loss this step is about to log

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.console.is_terminal:
            self._lines = LineClock(state.global_step, state.num_input_tokens_seen or 0)
            self._every = self.every_steps or max(1, state.max_steps // 20)
            return
        self._progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step, info=self._last)
        elif not self.console.is_terminal and self._lines.due(state.global_step, self._every,
                                                              self.every_seconds):
            if control.should_log:  # the Trainer logs this step's loss right after: print the line with it
                self._line_due = True
            else:
                self._print_line(state)

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
        if self._line_due and "loss" in logs:
            self._print_line(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step, info=self._last)
            self._progress.stop()
            self._progress = None
        elif not self.console.is_terminal and self._lines.step != state.global_step:
            self._print_line(state)  # the last step, if its line was not printed yet

    def _print_line(self, state: Any) -> None:
        self._line_due = False
        line = self._lines.line(state.global_step, state.max_steps, state.num_input_tokens_seen or 0, self._last)
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class LineClock:
    """When the last plain progress line was printed, and what a new one says (tokens/s and ETA from the mean
    step time since training began)."""

    def __init__(self, step: int = 0, tokens: int = 0) -> None:
        self.first_step, self.first_tokens = step, tokens
        self.started = self.printed = time.monotonic()
        self.step = step

    def due(self, step: int, every_steps: int, every_seconds: float) -> bool:
        return step - self.step >= every_steps or time.monotonic() - self.printed >= every_seconds

    def line(self, step: int, total: int, tokens: int, losses: str) -> str:
        """e.g. `train step 40/200  loss 2.315  val 2.410  1,234 tokens/s  ETA 0:02:10`."""
        self.step, self.printed = step, time.monotonic()
        elapsed = max(1e-9, self.printed - self.started)
        done = step - self.first_step
        eta = (total - step) * elapsed / done if done > 0 else None
        rate = (tokens - self.first_tokens) / elapsed
        eta_text = str(datetime.timedelta(seconds=round(eta))) if eta is not None else "-"
        return f"train step {step}/{total}  {losses or 'loss -'}  {rate:,.0f} tokens/s  ETA {eta_text}"


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
