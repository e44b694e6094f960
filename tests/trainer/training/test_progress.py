"""Training progress: a rich bar on a terminal, plain lines a log can keep when the output is redirected."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from helpers import GitRepo, pattern_module, run_cli
from rich.console import Console
from transformers import TrainerControl

from trainer.training.progress import RichProgress

LINE = re.compile(r"^train step (\d+)/(\d+)  loss \d+\.\d{3}  [\d,]+ tokens/s  ETA \d+:\d\d:\d\d$", re.MULTILINE)


def test_a_redirected_training_prints_plain_progress_lines(make_repo) -> None:
    repo: GitRepo = make_repo()
    for i in range(3):
        repo.commit({f"m{i}.py": pattern_module(i)})
    proc = run_cli("train", "--repo", str(repo.root), "--base", "tiny", "--tiny-size", "nano", "--max-steps", "6",
                   "--no-eval")  # stderr is a pipe here, not a terminal
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [(int(a), int(b)) for a, b in LINE.findall(proc.stderr)]
    assert steps and steps[-1] == (6, 6), proc.stderr[-3000:]
    assert all(total == 6 for _, total in steps) and steps == sorted(set(steps))


def drive(progress: RichProgress, steps: int, log_every: int = 1) -> None:
    """What the Trainer calls on its callbacks for `steps` steps, logging the loss every `log_every`."""
    state = SimpleNamespace(global_step=0, max_steps=steps, num_input_tokens_seen=0)
    progress.on_train_begin(None, state, TrainerControl())
    for step in range(1, steps + 1):
        state.global_step, state.num_input_tokens_seen = step, 100 * step
        control = TrainerControl(should_log=step % log_every == 0)
        progress.on_step_end(None, state, control)
        if control.should_log:
            progress.on_log(None, state, control, logs={"loss": 3.0 - step / 100})
    progress.on_train_end(None, state, TrainerControl())


def test_lines_come_every_n_steps_or_every_interval_and_at_the_last_step() -> None:
    out = io.StringIO()
    drive(RichProgress(Console(file=out, width=200), every_steps=0, every_seconds=3600), 100, log_every=5)
    assert [int(a) for a, _ in LINE.findall(out.getvalue())] == list(range(5, 101, 5))  # a twentieth of the run
    assert "train step 10/100  loss 2.900" in out.getvalue()  # the loss logged at that very step

    out = io.StringIO()
    drive(RichProgress(Console(file=out, width=200), every_steps=4, every_seconds=3600), 10, log_every=100)
    assert re.findall(r"step (\d+)/10  loss -", out.getvalue()) == ["4", "8", "10"]  # nothing logged yet

    out = io.StringIO()
    drive(RichProgress(Console(file=out, width=200), every_steps=1000, every_seconds=0), 5)
    assert [int(a) for a, _ in LINE.findall(out.getvalue())] == [1, 2, 3, 4, 5]  # the clock came first


def test_a_terminal_gets_the_rich_bar_and_no_plain_lines() -> None:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, width=200, force_terminal=True), every_seconds=0)
    drive(progress, 5)
    assert "train step" not in out.getvalue() and "5/5" in out.getvalue()
    assert [step for step, _ in progress.train_loss] == [1, 2, 3, 4, 5]
