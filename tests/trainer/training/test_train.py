"""Training runs the real code on tiny models: what changed, what did not, and that loss went down."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import GitRepo, pattern_module
from helpers import fim_examples as examples
from rich.console import Console

from assistant.config import Config, TrainConfig
from trainer.training.encoding import encode_all
from trainer.training.model_setup import prepare, resolve_method, to_bnb_config, to_lora_config
from trainer.training.progress import RichProgress
from trainer.training.time_box import fit_time_box
from trainer.training.train import train
from trainer.training.trainer_setup import WeightedTrainer, build_trainer, to_training_args

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115 - lives as long as the test session




def run_short(cfg: TrainConfig, tmp_path: Path, steps: int = 4):
    prepared = prepare(cfg, [ex.prefix + ex.middle for ex in examples()])
    enc = encode_all(examples(), prepared.tokenizer, prepared.profile, cfg.max_seq_len, 0.25)
    args = to_training_args(cfg, prepared.method, tmp_path / "run", len(enc), has_val=False, bf16=False)
    args.max_steps = steps
    trainer = build_trainer(prepared, cfg, args, enc, [], RichProgress(QUIET))
    return prepared, trainer


def snapshot(model: torch.nn.Module, trainable: bool) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().float() for k, v in model.named_parameters() if v.requires_grad == trainable}


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_lora_and_qlora_change_the_adapter_and_not_the_base(method: str, pretrained_base: Path,
                                                            tmp_path: Path) -> None:
    cfg = TrainConfig(base=str(pretrained_base), method=method, batch_size=8, max_seq_len=256, learning_rate=1e-2)
    prepared, trainer = run_short(cfg, tmp_path)
    model = prepared.model
    adapter_before = snapshot(model, trainable=True)
    base_before = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" not in k}
    assert adapter_before and all("lora_" in k for k in adapter_before)
    trainer.train()
    adapter_after = snapshot(model, trainable=True)
    changed = [k for k in adapter_before if not torch.equal(adapter_before[k], adapter_after[k])]
    assert len(changed) == len(adapter_before), "every LoRA matrix should have moved"
    base_after = {k: v for k, v in model.state_dict().items() if "lora_" not in k}
    assert base_before.keys() == base_after.keys()
    for k in base_before:
        assert torch.equal(base_before[k], base_after[k]), f"base weight {k} changed"
    if method == "qlora":
        kinds = {type(m).__name__ for m in model.modules()}
        assert "Linear4bit" in kinds  # the base really is 4-bit NF4 (bitsandbytes, on this CPU)


def test_full_training_lowers_loss_on_a_repetitive_corpus(tmp_path: Path) -> None:
    cfg = TrainConfig(base="tiny", tiny_size="nano", batch_size=8, max_seq_len=256, learning_rate=3e-3)
    _, trainer = run_short(cfg, tmp_path, steps=30)
    progress = next(c for c in trainer.callback_handler.callbacks if isinstance(c, RichProgress))
    trainer.train()
    losses = [loss for _, loss in progress.train_loss]
    assert len(losses) >= 3
    assert losses[-1] < 0.7 * losses[0]


def test_recency_weights_drive_sampling(tmp_path: Path) -> None:
    cfg = TrainConfig(base="tiny", tiny_size="nano", batch_size=4, max_seq_len=256)
    _, trainer = run_short(cfg, tmp_path)
    assert isinstance(trainer, WeightedTrainer)
    trainer.sample_weights = [1.0] * 10 + [0.01] * 38
    trainer.train_dataset.rows = trainer.train_dataset.rows[:48]  # type: ignore[union-attr]
    drawn = list(trainer._get_train_sampler())
    recent = sum(1 for i in drawn if i < 10)
    assert recent > 0.7 * len(drawn)  # 10 of 48 examples hold ~96% of the weight


def test_mappers_are_pure_and_qlora_is_lora_plus_a_quantized_base() -> None:
    cfg = TrainConfig(base="some/model", lora_r=8, lora_alpha=16, lora_targets=["q_proj", "v_proj"])
    lora = to_lora_config(cfg)
    assert (lora.r, lora.lora_alpha, set(lora.target_modules)) == (8, 16, {"q_proj", "v_proj"})
    assert to_lora_config(TrainConfig(base="x")).target_modules == "all-linear"
    bnb = to_bnb_config(cfg)
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16
    assert resolve_method(TrainConfig(base="tiny")) == "full"
    assert resolve_method(TrainConfig(base="x"), cuda=False) == "lora"
    assert resolve_method(TrainConfig(base="x"), cuda=True) == "qlora"


def test_the_time_box_shortens_the_schedule_so_that_it_completes(tmp_path: Path) -> None:
    cfg = TrainConfig(base="tiny", tiny_size="nano", epochs=50, max_minutes=0, batch_size=16)
    prepared = prepare(cfg, [ex.prefix + ex.middle for ex in examples()])
    enc = encode_all(examples(), prepared.tokenizer, prepared.profile, cfg.max_seq_len, 0.25)

    def trainer_for(steps: int = 0):
        args = to_training_args(replace(cfg, max_steps=steps), prepared.method, tmp_path / "run", len(enc),
                                has_val=False, bf16=False)
        # (built without its TimeLimit: on a box of seconds, checkpoint writing alone would trip it)
        return build_trainer(prepared, cfg, args, enc, [], RichProgress(QUIET)), args

    untouched, args = trainer_for()
    step_seconds, note = fit_time_box(untouched, cfg, enc)
    assert step_seconds > 0 and note == "" and args.max_steps == 150  # no time box: the schedule stands
    boxed = replace(cfg, max_minutes=round(12 * step_seconds / 60 / 0.9, 4))  # about 12 steps' time
    trainer, args = trainer_for()
    note = fit_time_box(trainer, boxed, enc)[1]
    assert 4 <= args.max_steps < 150
    assert note.startswith(f"cut from 150 to fit train.max_minutes = {boxed.max_minutes:g}")
    assert args.save_steps % args.eval_steps == 0
    assert args.save_steps == max(1, args.max_steps // 10)  # no validation slice: still ten checkpoints to resume from
    trainer.train()
    assert trainer.state.global_step == args.max_steps
    assert trainer.lr_scheduler.get_last_lr()[0] < 0.05 * args.learning_rate  # the cosine decay ran to its end
    asked, args = trainer_for(500)
    note = fit_time_box(asked, replace(boxed, max_steps=500), enc)[1]
    assert args.max_steps == 500 and "where training stops" in note  # asked for by number: kept, with a warning


def test_the_time_box_leaves_room_for_the_validations() -> None:
    from trainer.training.time_box import steps_that_fit

    cfg = TrainConfig(max_minutes=5, batch_size=4)
    alone = steps_that_fit(cfg, 0.3, n_val=0)
    assert alone == (int(300 * 0.9 / 0.3), 0)
    # 120 validation examples, 30 batches, each a third of a training step: 3 s; ten fit in 15% of the box
    assert steps_that_fit(cfg, 0.3, n_val=120) == (alone[0] - 100, 10)
    # a slower machine: a validation takes 12 s, and only three fit in the 45 s allowed them
    assert steps_that_fit(cfg, 1.2, n_val=120) == (int((270 - 36) / 1.2), 3)
    assert steps_that_fit(replace(cfg, grad_accum=2), 0.3, n_val=0)[0] == alone[0] // 2
    assert steps_that_fit(replace(cfg, max_minutes=0.001), 0.6, n_val=160) == (1, 1)  # never none


def test_train_writes_a_complete_model_dir_with_its_record(make_repo, tmp_path: Path) -> None:
    repo: GitRepo = make_repo()
    for i in range(3):
        repo.commit({f"m{i}.py": pattern_module(i)})
    cfg = Config()
    cfg.train.tiny_size = "nano"
    cfg.train.max_steps = 6
    cfg.train.evaluate = False
    result = train(repo.root, cfg, console=QUIET)
    d = result.model_dir
    assert (d / "model.json").is_file() and (d / "weights" / "config.json").is_file()
    assert (d / "tokenizer" / "tokenizer.json").is_file() and (d / "loss.png").stat().st_size > 1000
    t = result.manifest.training
    assert t["method"] == "full" and t["steps"] == 6 and t["tokens_seen"] > 0
    assert t["wall_seconds"] > 0 and t["final_train_loss"] > 0
    assert t["config"]["train"]["max_steps"] == 6
    assert [p.name for p in d.parent.iterdir() if p.name.startswith(".model")] == []


def test_a_resumed_run_keeps_the_schedule_its_checkpoint_had(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    from trainer.training.time_box import keep_schedule

    checkpoint = tmp_path / "checkpoint-40"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(
        '{"max_steps": 123, "eval_steps": 12, "save_steps": 12, "logging_steps": 2, "global_step": 40}')
    args = to_training_args(TrainConfig(base="tiny", batch_size=16), "full", tmp_path / "run", 4000, has_val=True,
                            bf16=False)
    assert isinstance(args, TrainingArguments) and args.max_steps == 750
    keep_schedule(args, checkpoint)  # the time box had fitted the interrupted run to 123 steps
    assert (args.max_steps, args.eval_steps, args.save_steps, args.logging_steps) == (123, 12, 12, 2)
