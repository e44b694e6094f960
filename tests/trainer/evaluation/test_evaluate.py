"""Trained on a repository's past, the tiny model completes its held-out future better than untrained."""

from __future__ import annotations

import json

from helpers import GitRepo, run_cli

WORDS = ["order", "invoice", "customer", "parcel", "refund", "coupon", "ticket", "review", "basket", "stock",
         "payment", "address", "session", "report", "upload", "profile", "message", "receipt", "voucher", "plan",
         "route", "badge", "quota", "label", "token", "batch", "folder", "device"]


def handler(i: int) -> str:
    w = WORDS[i]
    return (f"def handle_{w}(request):\n    {w} = request.get('{w}_id')\n    if {w} is None:\n"
            f"        return not_found('{w}')\n    return render('{w}.html', {w}={w})\n")


def test_tuned_tiny_model_beats_the_untrained_one_on_held_out_commits(make_repo) -> None:
    repo: GitRepo = make_repo()
    repo.write("assistant.toml", "[mine]\nholdout_fraction = 0.15\nholdout_min_commits = 4\n"
                                 "[eval]\nlimit = 16\nmax_new_tokens = 24\nbootstrap = 500\n")
    body = '"""Request handlers."""\n\n'
    for i in range(28):  # each commit adds one more handler in the same style
        body += "\n\n" + handler(i)
        repo.commit({"app/handlers.py": body}, message=f"handler {i}")
    proc = run_cli("train", "--repo", str(repo.root), "--base", "tiny", "--tiny-size", "nano", "--max-steps", "60",
                   "--batch-size", "8", "--lr", "3e-3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the tuned model beats the base" in proc.stderr
    model = repo.root / ".assistant" / "model"
    metrics = json.loads((model / "model.json").read_text())["metrics"]
    assert metrics["verdict"] == "better"
    assert metrics["tuned"]["edit_similarity"] > metrics["base"]["edit_similarity"]
    assert metrics["delta"]["edit_similarity"]["low"] > 0
    report = json.loads((model / "eval" / "report.json").read_text())
    assert len(report["examples"]) == metrics["heldout_examples"] > 0
    heldout_commits = {e["commit"] for e in report["examples"]}
    held = json.loads((repo.root / ".assistant" / "data" / "meta.json").read_text())["stats"]["heldout_commits"]
    assert 4 <= held <= 6
    newest = repo.git("log", "--format=%H", f"-{held}").split()
    assert heldout_commits <= set(newest)  # only the newest commits are held out
    assert (model / "eval" / "comparison.png").stat().st_size > 5000
    md = (model / "eval" / "report.md").read_text()
    assert "expected:" in md and "tuned:" in md and "base:" in md

    again = run_cli("eval", "--repo", str(repo.root), "--limit", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((model / "model.json").read_text())["metrics"]["heldout_examples"] == 4


def test_eval_without_a_model_dir_says_how_to_get_one(make_repo) -> None:
    repo: GitRepo = make_repo()
    for i in range(3):
        repo.commit({"a.py": handler(i)})
    proc = run_cli("eval", "--repo", str(repo.root))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "assistant train" in proc.stderr




class _Echo:
    """A completer that answers "x" to every request (no model: this test is about the progress lines, the same
    for every engine)."""

    class backend:  # the attribute `run_model` reads
        name = "echo"

    def complete(self, req: object) -> object:
        class Result:
            text = "x"
        return Result()


def test_eval_progress_prints_plain_lines_when_the_output_is_not_a_terminal() -> None:
    import io
    import re

    from rich.console import Console
    from rich.progress import Progress

    from trainer.evaluation.evaluate import run_model
    from trainer.mining.examples import Example

    examples = [Example(path="a.py", language="python", prefix=f"p{i}\n", middle="x", suffix="", kind="hunk")
                for i in range(40)]
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    with Progress(console=console) as progress:
        run = run_model(_Echo(), examples, progress, "eval base ")  # type: ignore[arg-type]
    assert len(run.predictions) == 40
    lines = re.findall(r"^eval base (\d+)/40  ETA \d+:\d\d:\d\d$", out.getvalue(), re.MULTILINE)
    assert [int(n) for n in lines] == list(range(2, 41, 2))  # every twentieth, the last included
