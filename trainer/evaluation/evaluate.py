"""Evaluation: does the tuned model complete this repository's newest code better than its base?

Run it with `assistant eval --repo . [--model-dir DIR] [--limit N]` (and it runs at the end of
`assistant train`). Every held-out example (from the newest commits, never trained on) is completed by
the base and by the tuned model through the server's own pipeline (same prompts, greedy decoding, same
postprocessing), scored against what the author wrote, and the paired differences get bootstrap
confidence intervals. `trainer.evaluation.report` writes the report files.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from assistant.config import Config, ServerConfig
from assistant.errors import UserError
from assistant.modeldir import Manifest, read_manifest
from assistant.models import Loaded, load_base_for_inference, load_model_dir, load_tokenizer
from assistant.numbers import percentile
from server.backends.transformers_backend import TransformersBackend
from server.context import CompletionRequest
from server.pipeline import Completer
from trainer.evaluation.metrics import METRICS, Interval, corpus_scores, paired_bootstrap, score
from trainer.mining.examples import Example


@dataclass
class ModelRun:
    name: str
    predictions: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    scores: list[dict[str, float]] = field(default_factory=list)

    def summary(self, references: list[str]) -> dict[str, float]:
        out = {m: sum(s[m] for s in self.scores) / max(1, len(self.scores)) for m in METRICS}
        out.update(corpus_scores(self.predictions, references))
        out["latency_mean_s"] = sum(self.latencies) / max(1, len(self.latencies))
        out["latency_p95_s"] = percentile(self.latencies, 95) or 0.0
        return out


@dataclass
class EvalResult:
    examples: list[Example]
    base: ModelRun
    tuned: ModelRun
    deltas: dict[str, Interval]

    def summary(self) -> dict[str, Any]:
        """What model.json records and the server and editors show."""
        refs = [ex.middle for ex in self.examples]
        base, tuned = self.base.summary(refs), self.tuned.summary(refs)
        return {
            "heldout_examples": len(self.examples),
            "base": {k: round(v, 4) for k, v in base.items()},
            "tuned": {k: round(v, 4) for k, v in tuned.items()},
            "delta": {m: {k: round(v, 4) for k, v in ci.as_dict().items()} for m, ci in self.deltas.items()},
            "verdict": verdict(self.deltas["edit_similarity"]),
        }


def verdict(edit: Interval) -> str:
    """'better', 'worse' or 'no clear difference', by the 95% interval of the edit-similarity delta."""
    if edit.low > 0:
        return "better"
    if edit.high < 0:
        return "worse"
    return "no clear difference"


def choose(examples: list[Example], limit: int) -> list[Example]:
    """At most `limit` examples spread evenly over the held-out period (deterministic)."""
    if limit <= 0 or len(examples) <= limit:
        return list(examples)
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def eval_server_config(cfg: Config) -> ServerConfig:
    """The server's settings, minus what would make a measurement depend on timing or history."""
    return dataclasses.replace(cfg.server, time_budget_ms=600_000, temperature=0.0,
                               max_new_tokens=cfg.eval.max_new_tokens, result_cache=False)


def load_pair(model_dir: Path, server: ServerConfig) -> tuple[Completer, Completer, Manifest]:
    """Completers for the base and for the tuned model of a model dir."""
    manifest = read_manifest(model_dir)
    tuned = load_model_dir(model_dir)
    base = base_of(manifest, model_dir, tuned)
    return (Completer(TransformersBackend(base, server.threads), server),
            Completer(TransformersBackend(tuned, server.threads), server), manifest)


def base_of(manifest: Manifest, model_dir: Path, tuned: Loaded) -> Loaded:
    """The untrained starting point: the pretrained base, or tiny's random initialisation (same seed)."""
    if manifest.kind == "adapter":
        base = load_base_for_inference(manifest.base, manifest.profile)
        base.name = f"{manifest.base} (base)"
        return base
    from trainer.training import tiny

    train_cfg = manifest.training.get("config", {}).get("train", {})
    size, seed = train_cfg.get("tiny_size"), train_cfg.get("seed", 0)
    if manifest.base.startswith("tiny-") and size in tiny.SIZES:
        tokenizer = load_tokenizer(model_dir / (manifest.tokenizer or "tokenizer"))
        model = tiny.build_model(size, tokenizer, seed=seed).eval()
        return Loaded(model, tokenizer, tuned.profile, manifest, name=f"{manifest.base} (untrained)")
    raise UserError(f"{model_dir}: cannot tell which base {manifest.base!r} started from; retrain with "
                    "`assistant train`")


def run_model(completer: Completer, examples: list[Example], progress: Progress, label: str) -> ModelRun:
    run = ModelRun(completer.backend.name)
    task = progress.add_task(label, total=len(examples))
    for ex in examples:
        req = CompletionRequest(text=ex.prefix + ex.suffix, offset=len(ex.prefix), path=ex.path,
                                language_id=ex.language, open_documents=tuple((p, t) for p, t in ex.snippets))
        started = time.perf_counter()
        result = completer.complete(req)
        run.latencies.append(time.perf_counter() - started)
        run.predictions.append(result.text)
        run.scores.append(score(result.text, ex.middle))
        progress.advance(task)
    return run


def evaluate(examples: list[Example], model_dir: Path, cfg: Config, console: Console) -> EvalResult:
    if not examples:
        raise UserError("no held-out examples to evaluate on: the history is too short to hold commits out "
                        "(see mine.holdout_fraction / mine.holdout_min_commits)")
    chosen = choose(examples, cfg.eval.limit)
    base, tuned, _ = load_pair(model_dir, eval_server_config(cfg))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        base_run = run_model(base, chosen, progress, "eval base ")
        tuned_run = run_model(tuned, chosen, progress, "eval tuned")
    deltas = {m: paired_bootstrap([s[m] for s in base_run.scores], [s[m] for s in tuned_run.scores],
                                  resamples=cfg.eval.bootstrap) for m in METRICS}
    deltas["latency_s"] = paired_bootstrap(base_run.latencies, tuned_run.latencies, resamples=cfg.eval.bootstrap)
    return EvalResult(chosen, base_run, tuned_run, deltas)
