"""Evaluation: does the tuned model complete this repository's newest code better than its base?

Run it with `assistant eval --repo . [--model-dir DIR] [--limit N] [--languages python,go]` (and it runs at
the end of `assistant train`). Every held-out example (from the newest commits, never trained on) is
completed by the base and by the tuned model through the server's own pipeline (same prompts, greedy
decoding, same postprocessing), scored against what the author wrote, and the paired differences get
bootstrap confidence intervals, overall and for each language. `trainer.evaluation.report` writes the
report files.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections import Counter
from collections.abc import Sequence
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
from assistant.profiles import LEFT_TO_RIGHT, get_profile
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

    def pick(self, indices: Sequence[int]) -> ModelRun:
        """The same run, on some of its examples only."""
        return ModelRun(self.name, [self.predictions[i] for i in indices], [self.latencies[i] for i in indices],
                        [self.scores[i] for i in indices])


@dataclass
class EvalResult:
    examples: list[Example]
    base: ModelRun
    tuned: ModelRun
    deltas: dict[str, Interval]
    by_language: dict[str, EvalResult] = field(default_factory=dict)
    """The same comparison for each language's examples alone, most examples first."""

    def summary(self) -> dict[str, Any]:
        """What model.json records and the server and editors show: the scores, then per language."""
        return {**self.scores(), "models": {"base": self.base.name, "tuned": self.tuned.name},
                "by_language": {lang: r.scores() for lang, r in self.by_language.items()}}

    def scores(self) -> dict[str, Any]:
        """Example count, each model's metrics, the differences with their intervals, and the verdict."""
        refs = [ex.middle for ex in self.examples]
        base, tuned = self.base.summary(refs), self.tuned.summary(refs)
        return {
            "heldout_examples": len(self.examples),
            "base": {k: round(v, 4) for k, v in base.items()},
            "tuned": {k: round(v, 4) for k, v in tuned.items()},
            "delta": {m: {k: round(v, 4) for k, v in ci.as_dict().items()} for m, ci in self.deltas.items()},
            "verdict": verdict(self.deltas["edit_similarity"], len(self.examples)),
        }


def verdict(edit: Interval, examples: int) -> str:
    """'better', 'worse' or 'no clear difference', by the 95% interval of the edit-similarity delta (one
    example has no spread, so its zero-width interval proves nothing)."""
    if examples < 2:
        return "no clear difference"
    if edit.low > 0:
        return "better"
    if edit.high < 0:
        return "worse"
    return "no clear difference"


def only_languages(examples: list[Example], languages: Sequence[str]) -> list[Example]:
    """The examples in these languages (all of them when none is named); a UserError naming the languages
    present when none matches."""
    wanted = {name.strip().lower() for name in languages if name.strip()}
    if not wanted:
        return list(examples)
    chosen = [ex for ex in examples if ex.language in wanted]
    if not chosen:
        present = ", ".join(f"{lang} ({n})" for lang, n in Counter(ex.language for ex in examples).most_common())
        raise UserError(f"no held-out example in {', '.join(sorted(wanted))}; the held-out commits have: {present}")
    return chosen


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
        if get_profile(manifest.profile).adds_tokens:
            # FIM tokens the base never saw would be noise to it: it is judged as it can honestly be used.
            base = load_base_for_inference(manifest.base, LEFT_TO_RIGHT.name)
            base.name = f"{manifest.base} (base, left-to-right: the prefix alone)"
            return base
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
    """Complete every example with `completer`. The progress bar shows on a terminal; elsewhere (a redirected
    log) a plain line is printed every twentieth of the examples or 30 s, whichever comes first."""
    run = ModelRun(completer.backend.name)
    task = progress.add_task(label, total=len(examples))
    plain = not progress.console.is_terminal
    started = printed = time.monotonic()
    every = max(1, len(examples) // 20)
    for done, ex in enumerate(examples, 1):
        req = CompletionRequest(text=ex.prefix + ex.suffix, offset=len(ex.prefix), path=ex.path,
                                language_id=ex.language, open_documents=tuple((p, t) for p, t in ex.snippets))
        began = time.perf_counter()
        result = completer.complete(req)
        run.latencies.append(time.perf_counter() - began)
        run.predictions.append(result.text)
        run.scores.append(score(result.text, ex.middle))
        progress.advance(task)
        now = time.monotonic()
        if plain and (done % every == 0 or now - printed >= 30 or done == len(examples)):
            printed = now
            eta = datetime.timedelta(seconds=round((len(examples) - done) * (now - started) / done))
            progress.console.print(f"{label.strip()} {done}/{len(examples)}  ETA {eta}", markup=False,
                                   highlight=False, soft_wrap=True)
    return run


def compare(examples: list[Example], base: ModelRun, tuned: ModelRun, resamples: int,
            by_language: bool = True) -> EvalResult:
    """Base against tuned on the same examples: paired differences with bootstrap intervals, for all the
    examples and (unless `by_language` is False) for each language's alone."""
    deltas = {m: paired_bootstrap([s[m] for s in base.scores], [s[m] for s in tuned.scores], resamples=resamples)
              for m in METRICS}
    deltas["latency_s"] = paired_bootstrap(base.latencies, tuned.latencies, resamples=resamples)
    result = EvalResult(examples, base, tuned, deltas)
    if by_language:
        groups: dict[str, list[int]] = {}
        for i, ex in enumerate(examples):
            groups.setdefault(ex.language, []).append(i)
        for lang, idx in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
            picked = [examples[i] for i in idx]
            result.by_language[lang] = compare(picked, base.pick(idx), tuned.pick(idx), resamples, by_language=False)
    return result


def evaluate(examples: list[Example], model_dir: Path, cfg: Config, console: Console,
             languages: Sequence[str] = ()) -> EvalResult:
    """Complete the held-out examples (of `languages` only, when named) with base and tuned, and compare."""
    if not examples:
        raise UserError("no held-out examples to evaluate on: the history is too short to hold commits out "
                        "(see mine.holdout_fraction / mine.holdout_min_commits)")
    chosen = choose(only_languages(examples, languages), cfg.eval.limit)
    base, tuned, _ = load_pair(model_dir, eval_server_config(cfg))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        base_run = run_model(base, chosen, progress, "eval base ")
        tuned_run = run_model(tuned, chosen, progress, "eval tuned")
    return compare(chosen, base_run, tuned_run, cfg.eval.bootstrap)
