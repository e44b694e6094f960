"""Completion latency by backend: transformers against llama.cpp (f16 and q8_0), same model, same prompts.

    .venv/bin/python bench/backends.py [--model-dir DIR] [--prompts 8] [--repeats 3] [--tokens 32] [--threads 0]

The model is a model dir trained with `assistant train --base tiny` (default: ./.assistant/model); if it has
no f16 and q8_0 export yet, `assistant export` writes them first (parity check included). Prompts are the
mined dataset's held-out examples (train examples if there are too few), rendered exactly as the server
renders them, context cut to `server.context_tokens`. Every backend completes every prompt greedily up to
`--tokens` new tokens, stopping where the model stops, as in the editor. Two situations:

- cold: a prompt with no KV cache to reuse (a newly opened file); prompt-prefix reuse is off;
- keystroke: the same prompt with one more character typed at the cursor, right after the cold one, with
  prefix reuse on (what each keystroke costs while typing).

Prints, per backend, the median latency of a cold completion, its time to the first token (mostly prompt
evaluation), the time per further generated token, the median keystroke latency, and each llama.cpp
variant's speed-up over transformers measured in this run (ratio = transformers' time / its time). The
figures are wall-clock times: run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.config import load_config
from assistant.modeldir import read_manifest
from assistant.prompt import FimInput, render_prompt, trim_context
from server.backends import load_backend
from server.backends.base import GenerationRequest, generate
from trainer.export.export import export
from trainer.mining.examples import read_dataset


@dataclass
class Timing:
    label: str
    cold: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    """Seconds to the first piece of each cold completion."""
    keystroke: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)

    def ms(self, values: list[float]) -> float:
        return 1000 * statistics.median(values)

    def ms_per_next_token(self) -> float:
        """Decoding speed: the time after the first piece over the tokens after it."""
        return 1000 * sum(c - f for c, f in zip(self.cold, self.first, strict=True)) / max(
            1, sum(n - 1 for n in self.tokens))


class Stopwatch:
    """A backend seen through `generate`, noting when the first piece of each stream arrives."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.profile, self.name = backend, backend.profile, backend.name
        self.first_at = 0.0

    def count_tokens(self, text: str) -> int:
        return int(self.backend.count_tokens(text))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        self.first_at = 0.0
        for piece in self.backend.stream(request):
            self.first_at = self.first_at or time.perf_counter()
            yield piece


def ensure_exports(model_dir: Path, repo: Path | None) -> None:
    types = {f.get("type") for f in read_manifest(model_dir).gguf}
    if {"f16", "q8_0"} <= types:
        return
    print(f"exporting {model_dir} to f16 and q8_0 GGUF (once) ...", file=sys.stderr)
    export(model_dir, load_config(repo, {"export.outtype": "f16", "export.quant": "q8_0"}))


def cursors(model_dir: Path, count: int) -> list[FimInput]:
    dataset = read_dataset(workspace.data_beside(model_dir))
    pool = [ex for ex in dataset.heldout + dataset.train if ex.prefix.strip() and ex.suffix.strip()]
    if len(pool) < count:
        raise SystemExit(f"the dataset beside {model_dir} has {len(pool)} usable examples; need {count}")
    step = len(pool) // count
    return [FimInput(prefix=ex.prefix, suffix=ex.suffix, path=ex.path, language=ex.language)
            for ex in pool[::step][:count]]


def prompts_for(backend: Any, fims: list[FimInput], budget: int, share: float) -> list[tuple[str, str]]:
    """(prompt, the prompt after one more keystroke) per cursor, trimmed with this backend's token counts."""
    out = []
    for fim in fims:
        prefix, suffix = trim_context(fim.prefix, fim.suffix, backend.count_tokens, budget, share)
        before = render_prompt(backend.profile, FimInput(prefix, suffix, fim.path, fim.language))
        after = render_prompt(backend.profile, FimInput(prefix + "x", suffix, fim.path, fim.language))
        out.append((before, after))
    return out


def run(backend: Any, label: str, prompts: list[tuple[str, str]], tokens: int, repeats: int) -> Timing:
    stop = backend.profile.stop
    timing = Timing(label)
    watch = Stopwatch(backend)
    generate(backend, GenerationRequest(prompts[0][0], tokens, stop))  # warm-up: first-call costs are not latency
    for _ in range(repeats):
        for before, after in prompts:
            backend.set_prompt_cache(False)  # cold: nothing to reuse
            started = time.perf_counter()
            gen = generate(watch, GenerationRequest(before, tokens, stop))
            timing.cold.append(time.perf_counter() - started)
            timing.first.append((watch.first_at or time.perf_counter()) - started)
            timing.tokens.append(gen.tokens)
            timing.prompt_tokens.append(len(backend.encode(before)))
            backend.set_prompt_cache(True)
            generate(backend, GenerationRequest(before, tokens, stop))  # the cache now holds this prompt
            started = time.perf_counter()
            generate(backend, GenerationRequest(after, tokens, stop))
            timing.keystroke.append(time.perf_counter() - started)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=workspace.model_dir(Path(".")))
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="server.threads for every backend (0: each "
                        "engine's default)")
    args = parser.parse_args()
    model_dir = args.model_dir.resolve()
    repo = workspace.repo_of(model_dir)
    ensure_exports(model_dir, repo)
    fims = cursors(model_dir, args.prompts)

    results = []
    for backend_name, gguf in (("transformers", "auto"), ("llama-cpp", "f16"), ("llama-cpp", "q8_0")):
        cfg = load_config(repo, {"server.backend": backend_name, "server.gguf": gguf, "server.threads": args.threads,
                                 "server.time_budget_ms": 600_000}).server
        backend = load_backend(cfg, model_dir)
        label = "transformers (f32)" if backend_name == "transformers" else f"llama.cpp {gguf}"
        prompts = prompts_for(backend, fims, cfg.context_tokens, cfg.suffix_share)
        results.append(run(backend, label, prompts, args.tokens, args.repeats))
        del backend

    base = results[0]
    manifest = read_manifest(model_dir)
    params = manifest.training.get("params", {}).get("total")
    print(f"model: {manifest.base} ({params:,} parameters)" if params else f"model: {manifest.base}")
    print(f"{args.prompts} prompts x {args.repeats} repeats, median prompt {statistics.median(base.prompt_tokens):.0f} "
          f"tokens, up to {args.tokens} new tokens (median {statistics.median(base.tokens):.0f}), "
          f"threads={args.threads}")
    print(f"{'backend':<20} {'cold ms':>8} {'first ms':>9} {'ms/next tok':>12} {'keystroke ms':>13} {'cold x':>7} "
          f"{'keystroke x':>12}")
    for r in results:
        print(f"{r.label:<20} {r.ms(r.cold):>8.1f} {r.ms(r.first):>9.1f} {r.ms_per_next_token():>12.2f} "
              f"{r.ms(r.keystroke):>13.1f} {r.ms(base.cold) / r.ms(r.cold):>7.2f} "
              f"{r.ms(base.keystroke) / r.ms(r.keystroke):>12.2f}")
    print("(x: transformers' median time divided by this backend's, both measured in this run)")


if __name__ == "__main__":
    main()
