"""A base without FIM tokens: the generic profile's tokens are added, trained with LoRA, saved, served, and the
base is judged left-to-right."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from helpers import GitRepo, fim_examples, pattern_module, run_cli
from rich.console import Console

from assistant.config import TrainConfig
from assistant.models import load_model_dir, load_tokenizer
from assistant.profiles import GENERIC
from trainer.training.encoding import encode_all
from trainer.training.model_setup import prepare
from trainer.training.progress import RichProgress
from trainer.training.trainer_setup import build_trainer, to_training_args


def test_the_generic_tokens_are_added_as_single_tokens_with_mean_embeddings(plain_base: Path) -> None:
    before = load_tokenizer(plain_base)
    assert not any(t in before.get_vocab() for t in GENERIC.tokens)
    prepared = prepare(TrainConfig(base=str(plain_base), method="lora"), [])
    assert prepared.profile is GENERIC and len(prepared.added_tokens) == len(GENERIC.tokens)
    tok = prepared.tokenizer
    for token in GENERIC.tokens:
        assert len(tok(token, add_special_tokens=False)["input_ids"]) == 1, token
    emb = prepared.model.get_input_embeddings().weight
    assert emb.shape[0] == len(tok)
    old = emb[: len(before)].detach()
    for i in prepared.added_tokens:
        assert torch.allclose(emb[i].detach(), old.mean(dim=0), atol=1e-6)


def test_lora_trains_the_new_rows_and_leaves_the_base_rows(plain_base: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(base=str(plain_base), method="lora", batch_size=8, max_seq_len=256, learning_rate=1e-2)
    prepared = prepare(cfg, [])
    enc = encode_all(fim_examples(), prepared.tokenizer, prepared.profile, cfg.max_seq_len, 0.25)
    args = to_training_args(cfg, "lora", tmp_path / "run", len(enc), has_val=False, bf16=False)
    args.max_steps = 4
    trainer = build_trainer(prepared, cfg, args, enc, [], RichProgress(Console(quiet=True)))
    emb = prepared.model.get_input_embeddings()
    before = emb(torch.arange(len(prepared.tokenizer))).detach().clone()  # what the model sees for each token
    trainer.train()
    after = emb(torch.arange(len(prepared.tokenizer))).detach()
    new = prepared.added_tokens
    old = [i for i in range(len(prepared.tokenizer)) if i not in new]
    assert not torch.allclose(before[new], after[new]), "the new tokens' embeddings should have been trained"
    assert torch.equal(before[old], after[old]), "the base's own rows must not change"


def test_a_base_without_fim_tokens_trains_serves_and_is_judged_left_to_right(plain_base: Path,
                                                                             tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    for i in range(8):
        repo.commit({f"pkg/h{i}.py": pattern_module(i)}, message=f"h{i}")
    proc = run_cli("train", "--repo", str(repo.root), "--base", str(plain_base), "--method", "lora",
                   "--max-steps", "3", "--batch-size", "8", "--max-minutes", "0", "--no-eval")
    assert proc.returncode == 0, proc.stderr[-3000:]
    model_dir = repo.root / ".assistant" / "model"
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["profile"] == "generic" and manifest["tokenizer"] == "tokenizer"
    assert manifest["added_tokens"] == list(GENERIC.tokens)
    assert manifest["base_source"] == {"kind": "directory"}
    loaded = load_model_dir(model_dir)  # the base resized to the tuned tokenizer, then the adapter
    assert loaded.profile is GENERIC and len(loaded.tokenizer) == len(load_tokenizer(plain_base)) + 4
    proc = run_cli("complete", str(repo.root / "pkg" / "h1.py"), "--line", "7", "--col", "5", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "completion" in json.loads(proc.stdout)
    proc = run_cli("eval", "--repo", str(repo.root), "--limit", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((model_dir / "eval" / "report.json").read_text())
    assert "left-to-right" in json.dumps(report)


def test_an_explicit_profile_whose_tokens_the_base_lacks_fails_before_training(plain_base: Path,
                                                                               tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": pattern_module(0)})
    proc = run_cli("train", "--repo", str(repo.root), "--base", str(plain_base), "--profile", "starcoder2")
    assert proc.returncode == 2, proc.stderr
    assert "train.profile = 'starcoder2' needs tokens" in proc.stderr and "<fim_prefix>" in proc.stderr
    assert not (repo.root / ".assistant" / "model").exists()
