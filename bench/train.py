"""Benchmark: our trainer against the plain padded-batch Trainer setup, same model, same examples, one run.

    .venv/bin/python bench/train.py [--repo PATH] [--size small] [--steps 20] [--batch-size 16]

The default size is the one `assistant train --base tiny` uses. (On the smaller `micro`, bf16 gives
nothing over fp32 here: its matrices are too small for the bf16 kernels to win.)

Each setup trains in its own process (so peak memory is its own) from the same initial weights on the
same encoded examples for the same number of steps:
  plain   the transformers Trainer with DataCollatorForSeq2Seq: every example its own row, padded to the
          longest in the batch, fp32
  packed  our Trainer: packing collator (examples share rows, no attention across them) and the LM head
          computed only where the loss is (the middle), fp32
  ours    what `assistant train` runs: the same plus bf16 autocast where the CPU supports it
It prints real (non-padding) tokens per second and peak memory for each, and the ratios against plain.
Target: ours >= 1.5x plain in tokens/s, with no more peak memory.
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
SETUPS = ("plain", "packed", "ours")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepare_data(repo: Path, size: str, seq_len: int, out: Path) -> dict[str, int]:
    """Mine `repo`, train the tiny tokenizer, encode; save ids, labels and the tokenizer for the workers."""
    from assistant.config import Config
    from trainer.mining.mine import mine
    from trainer.training import tiny
    from trainer.training.encoding import encode_all
    from trainer.training.train import corpus_of

    cfg = Config()
    dataset = mine(repo, cfg.mine)
    tokenizer = tiny.train_tokenizer(corpus_of(dataset.train), tiny.SIZES[size].vocab)
    encoded = encode_all(dataset.train, tokenizer, tiny.PROFILE, seq_len, cfg.server.suffix_share)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    (out / "rows.json").write_text(json.dumps(rows))
    lengths = sorted(len(r["input_ids"]) for r in rows)
    return {"examples": len(rows), "median_len": lengths[len(lengths) // 2], "max_len": lengths[-1]}


def worker(setup: str, data: Path, size: str, steps: int, batch: int, seq_len: int) -> None:
    """Train one setup and print its measurements as JSON on stdout."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from assistant.config import TrainConfig
    from assistant.models import load_tokenizer
    from trainer.training import tiny
    from trainer.training.batches import EncodedDataset, PackingCollator
    from trainer.training.model_setup import use_bf16
    from trainer.training.trainer_setup import WeightedTrainer

    rows = json.loads((data / "rows.json").read_text())
    tokenizer = load_tokenizer(data / "tokenizer")
    model = tiny.build_model(size, tokenizer, seed=0)
    bf16 = setup == "ours" and use_bf16(TrainConfig())
    if setup == "plain":
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    else:
        collator = PackingCollator(seq_len, tokenizer.pad_token_id)
    args = TrainingArguments(output_dir=str(data / f"out-{setup}"), per_device_train_batch_size=batch,
                             max_steps=steps, learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=0.05,
                             bf16=bf16, use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                             logging_strategy="no", seed=0, data_seed=0, remove_unused_columns=False,
                             dataloader_num_workers=0)
    from trainer.training.encoding import Encoded

    dataset = EncodedDataset([Encoded(r["input_ids"], r["labels"], 1.0) for r in rows])
    if setup == "plain":
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    else:  # our Trainer: logits only where labelled (recency weights are all 1 here: plain random sampling)
        trainer = WeightedTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    real_tokens = 0
    slots = 0
    original = trainer.data_collator

    def counting(features):  # type: ignore[no-untyped-def]
        nonlocal real_tokens, slots
        batch_out = original(features)
        real_tokens += sum(len(f["input_ids"]) for f in features)
        slots += int(batch_out["input_ids"].numel())
        return batch_out

    trainer.data_collator = counting
    torch.manual_seed(0)
    before = rss_mib()
    started = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"setup": setup, "seconds": seconds, "tokens": real_tokens, "slots": slots,
                      "tokens_per_s": real_tokens / seconds, "peak_mib": peak, "train_mib": peak - before,
                      "loss": out.training_loss, "bf16": bf16}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--size", default="small")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--worker", choices=SETUPS)
    parser.add_argument("--data", type=Path)
    a = parser.parse_args()
    if a.worker:
        worker(a.worker, a.data, a.size, a.steps, a.batch_size, a.seq_len)
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        info = prepare_data(a.repo, a.size, a.seq_len, data)
        console.print(f"{a.repo}: {info['examples']} examples, median {info['median_len']} tokens, "
                      f"max {info['max_len']}; tiny-{a.size}, {a.steps} steps of {a.batch_size} examples")
        results = {}
        for setup in SETUPS:
            proc = subprocess.run([sys.executable, __file__, "--worker", setup, "--data", str(data), "--size", a.size,
                                   "--steps", str(a.steps), "--batch-size", str(a.batch_size),
                                   "--seq-len", str(a.seq_len)], capture_output=True, text=True,
                                  env={**os.environ, "TRANSFORMERS_VERBOSITY": "error",
                                       # as `assistant` sets it for every command; both setups run under it
                                       "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16"})
            if proc.returncode != 0:
                console.print(proc.stderr[-3000:])
                raise SystemExit(f"{setup} failed")
            results[setup] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = results["plain"]
    table = Table(title="training throughput (real tokens, padding excluded)")
    for col in ("setup", "tokens/s", "x plain", "padding share", "peak MiB", "training MiB", "x plain mem",
                "final loss"):
        table.add_column(col, justify="right")
    for setup, r in results.items():
        table.add_row(setup + (" (bf16)" if r["bf16"] else ""), f"{r['tokens_per_s']:,.0f}",
                      f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}", f"{1 - r['tokens'] / r['slots']:.0%}",
                      f"{r['peak_mib']:,.0f}", f"{r['train_mib']:,.0f}", f"{r['peak_mib'] / base['peak_mib']:.2f}",
                      f"{r['loss']:.3f}")
    console.print(table)
    ours = results["ours"]
    speed = ours["tokens_per_s"] / base["tokens_per_s"]
    memory_ok = ours["peak_mib"] <= base["peak_mib"]
    verdict = "PASS" if speed >= 1.5 and memory_ok else "FAIL"
    console.print(f"{verdict}: ours is {speed:.2f}x plain in tokens/s (target >= 1.5) with "
                  f"{ours['peak_mib'] / base['peak_mib']:.2f}x its peak memory (target <= 1.00)")
    if verdict == "FAIL":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
