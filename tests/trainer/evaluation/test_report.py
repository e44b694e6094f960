"""The report by language, on small hand-made results (no model runs), and `assistant eval --languages`."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from helpers import GitRepo, pattern_module, run_cli
from rich.console import Console

from assistant.errors import UserError
from assistant.modeldir import Manifest, read_manifest, write_manifest
from trainer.evaluation.evaluate import EvalResult, ModelRun, compare, only_languages
from trainer.evaluation.metrics import score
from trainer.evaluation.report import markdown, one_line, table, write_report
from trainer.mining.examples import Example


def example(language: str, middle: str) -> Example:
    path = {"python": "a.py", "typescript": "b.ts", "go": "c.go"}[language]
    return Example(path=path, language=language, prefix="x = ", middle=middle, suffix="\n", kind="hunk",
                   commit="c0ffee" * 6)


def result(cases: list[tuple[str, str, str, str]]) -> EvalResult:
    """(language, expected, base's completion, tuned's completion) for each example."""
    examples = [example(lang, expected) for lang, expected, _, _ in cases]
    runs = []
    for name, col in (("base", 2), ("tuned", 3)):
        predictions = [case[col] for case in cases]
        runs.append(ModelRun(name, predictions, [0.01 * (col - 1)] * len(cases),
                             [score(p, ex.middle) for p, ex in zip(predictions, examples, strict=True)]))
    return compare(examples, runs[0], runs[1], resamples=200)


RIGHT, WRONG = "compute(total, rate)", "nothing like it"
CASES = ([("python", RIGHT, WRONG, RIGHT)] * 6 + [("typescript", RIGHT, RIGHT, WRONG)] * 3
         + [("go", RIGHT, WRONG, RIGHT)])


def test_every_metric_is_broken_down_by_language_with_its_count() -> None:
    s = result(CASES).summary()
    assert s["heldout_examples"] == 10 and list(s["by_language"]) == ["python", "typescript", "go"]
    py, ts, go = (s["by_language"][lang] for lang in ("python", "typescript", "go"))
    assert (py["heldout_examples"], ts["heldout_examples"], go["heldout_examples"]) == (6, 3, 1)
    assert py["base"]["exact_match"] == 0 and py["tuned"]["exact_match"] == 1
    assert py["delta"]["exact_match"] == {"mean": 1.0, "low": 1.0, "high": 1.0} and py["verdict"] == "better"
    assert ts["delta"]["edit_similarity"]["high"] < 0 and ts["verdict"] == "worse"
    assert go["verdict"] == "no clear difference"  # one example proves nothing, however it went
    assert set(py["base"]) == set(s["base"]) and set(py["delta"]) == set(s["delta"])  # every metric
    assert s["delta"]["exact_match"]["mean"] == pytest.approx(0.4)  # the overall is unchanged: (6 - 3 + 1) / 10
    assert "by_language" not in py


def test_the_terminal_shows_the_overall_table_then_one_by_language() -> None:
    out = io.StringIO()
    Console(file=out, width=160).print(table(result(CASES)))
    text = out.getvalue()
    assert "held-out commits: 10 completions, base vs tuned" in text
    assert "examples by language: python 6, typescript 3, go 1" in text
    assert text.index("edit similarity") < text.index("by language")
    rows = [line for line in text.splitlines() if line.strip().startswith(("│ python", "│ typescript", "│ go"))]
    assert [r.split("│")[1:3] for r in rows] == [[" python     ", "        6 "], [" typescript ", "        3 "],
                                               [" go         ", "        1 "]]
    assert "+1.000 (1 example: no interval)" in text

    out = io.StringIO()
    Console(file=out, width=160).print(table(result(CASES[:6])))
    assert "examples by language: python 6" in out.getvalue()
    assert out.getvalue().count("by language") == 1  # no second table: it would repeat the first


def test_report_json_and_markdown_carry_the_breakdown(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_manifest(model_dir, Manifest(base="tiny-nano", profile="tiny-spm", kind="full"))
    r = result(CASES)
    write_report(model_dir, r)
    report = json.loads((model_dir / "eval" / "report.json").read_text())
    assert report["summary"]["by_language"]["go"]["heldout_examples"] == 1
    assert [e["language"] for e in report["examples"]] == ["python"] * 6 + ["typescript"] * 3 + ["go"]
    assert read_manifest(model_dir).metrics["by_language"]["typescript"]["verdict"] == "worse"
    md = (model_dir / "eval" / "report.md").read_text()
    assert md == markdown(r, report["examples"])
    sections = md.split("## By language")[1].split("## Where tuning")[0]
    assert "### python (6 examples)" in sections and "### go (1 example)" in sections
    assert "| exact match | 1.000 | 0.000 | -1.000 (-1.000 .. -1.000) |" in sections.split("### typescript")[1]
    assert one_line(r).startswith("no clear difference between tuned and base on 10 held-out completions: "
                                  "edit similarity 0.745 vs 0.405 (+0.340, 95% CI -")


def test_only_the_languages_asked_for_are_scored() -> None:
    examples = [example(lang, RIGHT) for lang, *_ in CASES]
    assert {ex.language for ex in only_languages(examples, ["TypeScript", " go"])} == {"typescript", "go"}
    assert only_languages(examples, [""]) == examples
    with pytest.raises(UserError, match=r"^no held-out example in rust; the held-out commits have: "
                                        r"python \(6\), typescript \(3\), go \(1\)$"):
        only_languages(examples, ["rust"])


def test_eval_languages_that_match_nothing_name_those_present(make_repo) -> None:
    repo: GitRepo = make_repo()
    for i in range(6):
        repo.commit({f"pkg/m{i}.py": pattern_module(i)})
    proc = run_cli("eval", "--repo", str(repo.root), "--languages", "rust,go")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if "no held-out example" in line]
    assert len(error) == 1, proc.stderr
    assert re.search(r"no held-out example in go, rust; the held-out commits have: python \(\d+\)$", error[0])
