"""Benchmark: full, LoRA and QLoRA training of one pretrained base, on the same examples, in one run.

    .venv/bin/python bench/methods.py --base PATH_OR_GGUF [--repo PATH] [--steps 6] [--batch-size 4] [--seq-len 512]

Each method trains in its own process (so peak memory is its own), through what `assistant train` runs
(`prepare`, `build_trainer`: packed rows, the LM head only where the loss is, bf16 where the CPU runs it), on
the same encoded examples of the repository's mined history, for the same number of steps after one warm-up
step. It prints, for each method, trainable parameters, real tokens per second, peak memory, and both as a
ratio against LoRA (the default on a CPU) measured in the same run. `train.method = "auto"` follows it: LoRA
on a CPU, QLoRA on CUDA, where the 4-bit base is what lets a larger model fit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METHODS = ("lora", "qlora", "full")


def prepare_examples(repo: Path, out: Path, limit: int) -> int:
    """Mine `repo` and keep `limit` training examples (spread over the history) for the workers."""
    from assistant.config import Config
    from trainer.mining.mine import mine

    train = mine(repo, Config().mine).train
    chosen = train[:: max(1, len(train) // limit)][:limit]
    (out / "examples.json").write_text(json.dumps([ex.__dict__ for ex in chosen]))
    return len(chosen)


def worker(method: str, base: str, data: Path, steps: int, batch: int, seq_len: int) -> None:
    """Train one method and print its measurements as JSON on stdout."""
    import torch
    from rich.console import Console

    from assistant.config import TrainConfig
    from trainer.mining.examples import Example
    from trainer.training.encoding import encode_all
    from trainer.training.model_setup import prepare, use_bf16
    from trainer.training.plan import count_params
    from trainer.training.progress import RichProgress
    from trainer.training.trainer_setup import build_trainer, to_training_args

    examples = [Example(**e) for e in json.loads((data / "examples.json").read_text())]
    cfg = TrainConfig(base=base, method=method, batch_size=batch, max_seq_len=seq_len, max_minutes=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prepared = prepare(cfg, [])
    enc = encode_all(examples, prepared.tokenizer, prepared.profile, seq_len, 0.25)
    args = to_training_args(cfg, method, data / f"out-{method}", len(enc), has_val=False, bf16=use_bf16(cfg))
    args.max_steps = steps + 1
    args.save_strategy = "no"
    trainer = build_trainer(prepared, cfg, args, enc, [], RichProgress(Console(quiet=True)))
    seen = {"batches": 0, "tokens": 0, "start": 0.0}
    original = trainer.data_collator

    def counting(features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        seen["batches"] += 1
        if seen["batches"] == 2:  # the first batch's step (warm-up: kernels, allocations) is not timed
            seen["start"] = time.perf_counter()
        if seen["batches"] >= 2:
            seen["tokens"] += sum(len(f["input_ids"]) for f in features)
        return original(features)

    trainer.data_collator = counting
    torch.manual_seed(0)
    out = trainer.train()
    seconds = time.perf_counter() - seen["start"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainable, total = count_params(prepared.model)
    print(json.dumps({"method": method, "seconds": seconds, "tokens": seen["tokens"],
                      "tokens_per_s": seen["tokens"] / seconds, "peak_mib": peak, "load_mib": before,
                      "trainable": trainable, "total": total, "loss": out.training_loss, "bf16": args.bf16}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--worker", choices=METHODS)
    parser.add_argument("--data", type=Path)
    a = parser.parse_args()
    if a.worker:
        worker(a.worker, a.base, a.data, a.steps, a.batch_size, a.seq_len)
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    methods = [m for m in a.methods.split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        n = prepare_examples(a.repo, data, (a.steps + 1) * a.batch_size)
        console.print(f"{a.repo}: {n} examples; base {a.base}; {a.steps} timed steps of {a.batch_size} examples, "
                      f"rows of {a.seq_len} tokens")
        results = {}
        for method in methods:
            proc = subprocess.run([sys.executable, __file__, "--worker", method, "--base", a.base, "--data", str(data),
                                   "--steps", str(a.steps), "--batch-size", str(a.batch_size),
                                   "--seq-len", str(a.seq_len)], capture_output=True, text=True,
                                  env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1",
                                       "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16"})
            if proc.returncode != 0:
                console.print(f"{method} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}")
                continue
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "lora" not in results:
        raise SystemExit("LoRA, the baseline, did not run")
    base = results["lora"]
    table = Table(title=f"training methods on {Path(a.base).name} (real tokens; one warm-up step not timed)")
    for col in ("method", "trainable", "tokens/s", "x LoRA", "peak MiB", "x LoRA mem", "loss"):
        table.add_column(col, justify="right")
    for method, r in results.items():
        table.add_row(method + (" (bf16)" if r["bf16"] else ""), f"{r['trainable']:,} of {r['total']:,}",
                      f"{r['tokens_per_s']:,.0f}", f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}",
                      f"{r['peak_mib']:,.0f}", f"{r['peak_mib'] / base['peak_mib']:.2f}", f"{r['loss']:.3f}")
    console.print(table)


if __name__ == "__main__":
    main()
