"""GGUF export of each supported architecture, on small random models built here with real tokenizers.

Each family's tokenizer is trained with the `tokenizers` library in that family's style (pre-tokenizer,
special and FIM tokens, BOS handling), each model is a random transformers model of that architecture, and
the export must pass its own parity check: llama.cpp loads the file, tokenizes every prompt exactly like
transformers and picks the same greedy tokens. Also: the LoRA-only export applied by llama.cpp over a base
GGUF, and an unsupported architecture failing with one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import pytest
import torch
from helpers import pattern_module
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Starcoder2Config,
    Starcoder2ForCausalLM,
)

from assistant.config import Config
from assistant.errors import UserError
from assistant.modeldir import Manifest, read_manifest
from assistant.models import load_model_dir
from assistant.profiles import PROFILES
from trainer.export import arch as gguf_arch
from trainer.export import vocab as gguf_vocab
from trainer.export.export import export
from trainer.export.parity import MAX_KL, MIN_AGREEMENT, check_parity, parity_prompts
from trainer.export.vocab import PRE_TOKENIZERS
from trainer.mining.examples import Dataset, Example, write_dataset

CORPUS = [pattern_module(i) for i in range(8)] + [
    "def total(items):\n    count = 0\n    for item in items:\n        count += item.price * 12345\n    return count\n",
    "class Cache:\n    \"\"\"Résumé of values — ✓ done.\"\"\"\n"
    "    def __init__(self, size=256):\n        self.size = size\n",
    "const port = parseInt(process.env.PORT ?? '8080', 10);\n"
    "export function ok(x: number): boolean { return x > 0; }\n",
] * 3
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level(pre: Any, specials: list[str], *, bos: str | None, eos: str, specials_first: bool,
               normalizer: Any = None, vocab: int = 700) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on CORPUS: GPT-2 bytes, the family's pre-tokenizer and special tokens."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=vocab, min_frequency=2, special_tokens=specials if specials_first else [],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.add_special_tokens(specials)  # appended after the learned vocabulary when not trained in (Qwen)
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=eos,
                                   additional_special_tokens=[s for s in specials if s not in (bos, eos)],
                                   clean_up_tokenization_spaces=False)


def qwen_coder_tokenizer() -> PreTrainedTokenizerFast:
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
    return byte_level(pre, specials, bos=None, eos="<|endoftext|>", specials_first=False, normalizer=normalizers.NFC())


def starcoder2_tokenizer() -> PreTrainedTokenizerFast:
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    specials = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>",
                "<file_sep>"]
    return byte_level(pre, specials, bos=None, eos="<|endoftext|>", specials_first=True)


def deepseek_coder_tokenizer() -> PreTrainedTokenizerFast:
    split = [pre_tokenizers.Split(Regex(p), behavior="isolated")
             for p in ("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+")]
    pre = pre_tokenizers.Sequence([*split, pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
                "<｜fim▁end｜>", "<|EOT|>"]
    return byte_level(pre, specials, bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", specials_first=False)


def codellama_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-style (SentencePiece BPE as transformers stores it): '▁' for spaces, <0xNN> byte fallback, BOS."""
    norm = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    probe = Tokenizer(models.BPE(unk_token="<unk>"))
    probe.normalizer = norm
    probe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False))
    learned = json.loads(probe.to_str())["model"]
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))])}
    for token, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(token, len(vocab))
    # SentencePiece merges any two pieces whose join is a piece; list every such pair, as converted Llama
    # tokenizers do, grouped by the merge that first made the piece.
    merges: list[tuple[str, str]] = []
    for a, b in (tuple(m) for m in learned["merges"]):
        piece = a + b
        merges.append((a, b))
        merges += [(piece[:k], piece[k:]) for k in range(1, len(piece))
                   if piece[:k] in vocab and piece[k:] in vocab and (piece[:k], piece[k:]) != (a, b)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = norm
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>", "<PRE>", "<SUF>", "<MID>", "<EOT>"])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="</s>", additional_special_tokens=["<PRE>", "<SUF>", "<MID>", "<EOT>"],
                                   clean_up_tokenization_spaces=False)


SMALL: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 1024}


def llama(tok: Any, rope: dict[str, Any]) -> Any:
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), intermediate_size=128, rms_norm_eps=1e-5,
                                        rope_parameters=rope, bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id, initializer_range=0.1, **SMALL))


def qwen2(tok: Any) -> Any:
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok), intermediate_size=128, tie_word_embeddings=True,
                                        eos_token_id=tok.eos_token_id, initializer_range=0.1, **SMALL))


def starcoder2(tok: Any) -> Any:
    return Starcoder2ForCausalLM(Starcoder2Config(vocab_size=len(tok), intermediate_size=256, use_bias=True,
                                                  bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                                                  initializer_range=0.1, **SMALL))


def write_repo_data(root: Path) -> None:
    """The mined dataset beside the model dir, as `assistant train` leaves it: parity prompts come from here."""
    examples = []
    for i, text in enumerate(CORPUS[:11]):
        lines = text.splitlines(keepends=True)
        cut = len(lines) // 2
        examples.append(Example(path=f"src/file_{i}.py", language="python", prefix="".join(lines[:cut]),
                                middle=lines[cut], suffix="".join(lines[cut + 1:]), kind="hunk",
                                split="heldout" if i % 3 == 0 else "train"))
    write_dataset(root / ".assistant" / "data", Dataset(
        train=[e for e in examples if e.split == "train"], heldout=[e for e in examples if e.split == "heldout"]))


def full_model_dir(root: Path, model: Any, tok: Any, profile: str) -> Path:
    torch.manual_seed(0)
    md = root / ".assistant" / "model"
    model.save_pretrained(str(md / "weights"))
    tok.save_pretrained(str(md / "tokenizer"))
    manifest = Manifest(base=f"test-{model.config.model_type}", profile=profile, kind="full", weights="weights",
                        tokenizer="tokenizer")
    (md / "model.json").write_text(manifest.to_json(), encoding="utf-8")
    write_repo_data(root)
    return md


def quick_config() -> Config:
    cfg = Config()
    cfg.export.quant = []
    return cfg


CASES: dict[str, tuple[Callable[[], Any], Callable[[Any], Any], str, str, str]] = {
    # name: tokenizer, model, profile, GGUF architecture, tokenizer.ggml.pre (None: SentencePiece)
    "codellama": (codellama_tokenizer, lambda t: llama(t, {"rope_type": "default", "rope_theta": 1e6}),
                  "codellama", "llama", ""),
    "deepseek-coder": (deepseek_coder_tokenizer,
                       lambda t: llama(t, {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e5}),
                       "deepseek-coder", "llama", "deepseek-coder"),
    "qwen2.5-coder": (qwen_coder_tokenizer, qwen2, "qwen2.5-coder", "qwen2", "qwen2"),
    "starcoder2": (starcoder2_tokenizer, starcoder2, "starcoder2", "starcoder2", "starcoder"),
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(CASES))
def test_family_exports_and_passes_parity(family: str, tmp_path: Path) -> None:
    make_tok, make_model, profile_name, arch, pre = CASES[family]
    tok = make_tok()
    torch.manual_seed(1)
    md = full_model_dir(tmp_path, make_model(tok), tok, profile_name)

    result = export(md, quick_config())

    parity = result.parity
    assert parity.source == "dataset" and parity.prompts == 4 and parity.steps == 4 * 32
    assert parity.agreement >= MIN_AGREEMENT and parity.kl <= MAX_KL
    gguf_file = md / result.files[0]["file"]
    fields = gguf.GGUFReader(gguf_file).fields

    def value(key: str) -> Any:
        return fields[key].contents()

    assert value("general.architecture") == arch
    assert value("tokenizer.ggml.model") == ("llama" if not pre else "gpt2")
    assert value("tokenizer.ggml.pre" if pre else "tokenizer.ggml.add_space_prefix") == (pre or True)
    sentinels = PROFILES[profile_name].sentinels
    vocab = tok.get_vocab()
    for key, sentinel in zip(("fim_pre", "fim_suf", "fim_mid"), sentinels, strict=True):
        assert value(f"tokenizer.ggml.{key}_token_id") == vocab[sentinel]
    assert value("tokenizer.ggml.add_bos_token") == (tok.bos_token_id is not None)
    assert len(value("tokenizer.ggml.tokens")) == len(tok)


@pytest.mark.slow
def test_lora_only_export_runs_in_llama_cpp_over_the_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peft import LoraConfig, get_peft_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tok = deepseek_coder_tokenizer()
    torch.manual_seed(2)
    base_dir = tmp_path / "base"
    base = llama(tok, {"rope_type": "default", "rope_theta": 1e4})
    base.save_pretrained(str(base_dir))
    tok.save_pretrained(str(base_dir))
    # A trained-looking adapter: both LoRA matrices random (a fresh one has B = 0 and changes nothing).
    lora = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    md = tmp_path / "ws" / ".assistant" / "model"
    lora.save_pretrained(str(md / "adapter"))
    (md / "model.json").write_text(Manifest(base=str(base_dir), profile="deepseek-coder", kind="adapter",
                                            adapter="adapter").to_json(), encoding="utf-8")
    write_repo_data(tmp_path / "ws")

    result = export(md, quick_config(), adapter_only=True)

    [entry] = result.files
    assert entry["type"] == "lora-f16" and entry["rank"] == 8 and entry["tensors"] == 2 * 7 * 2
    base_gguf = Path(entry["base"])
    assert base_gguf.is_relative_to(tmp_path / "cache") and base_gguf.is_file()
    assert result.parity.agreement >= MIN_AGREEMENT
    modelfile = result.modelfile.read_text(encoding="utf-8")
    assert f"FROM {base_gguf}\n" in modelfile and f"ADAPTER ./{entry['file']}\n" in modelfile

    # The adapter matters: the base GGUF alone does not behave like the merged model.
    loaded = load_model_dir(md)
    merged = loaded.model.merge_and_unload()  # type: ignore[operator]
    prompts, source = parity_prompts(md.parent / "data", loaded.profile, loaded.tokenizer, 4)
    with pytest.raises(UserError, match="parity check failed"):
        check_parity(base_gguf, merged, loaded.tokenizer, prompts, 32, source)

    # The same model dir exported whole: the adapter merged into the base; the LoRA export is replaced.
    whole = export(md, quick_config())
    assert [f["type"] for f in whole.files] == ["f16"] and whole.parity.agreement >= MIN_AGREEMENT
    assert read_manifest(md).gguf == whole.files and not (md / entry["file"]).exists()


@pytest.mark.slow
@pytest.mark.parametrize("family, breakage, message", [
    # llama's Q/K rows left in transformers' rotary layout: attention goes wrong.
    ("deepseek-coder", "rope-layout", r"llama.cpp and transformers chose the same greedy token at only \d"),
    # A Qwen tokenizer labelled with GPT-2's pre-tokenizer: llama.cpp splits the text differently.
    ("qwen2.5-coder", "pre-tokenizer", r"llama.cpp tokenizes prompt \d differently from transformers"),
])
def test_a_broken_export_is_caught_and_nothing_is_written(family: str, breakage: str, message: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    make_tok, make_model, profile_name, _, _ = CASES[family]
    tok = make_tok()
    torch.manual_seed(1)
    md = full_model_dir(tmp_path, make_model(tok), tok, profile_name)
    if breakage == "rope-layout":
        monkeypatch.setattr(gguf_arch, "permute_qk", lambda weight, n_heads: weight)
    else:
        monkeypatch.setattr(gguf_vocab, "PRE_TOKENIZERS",
                            {sig: "gpt-2" if name == "qwen2" else name for sig, name in PRE_TOKENIZERS.items()})
    before = sorted(p.name for p in md.iterdir())
    with pytest.raises(UserError, match="^parity check failed: " + message):
        export(md, quick_config())
    assert sorted(p.name for p in md.iterdir()) == before and read_manifest(md).gguf == []


def test_unsupported_architecture_fails_with_one_line(tmp_path: Path) -> None:
    tok = starcoder2_tokenizer()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2))
    md = full_model_dir(tmp_path, model, tok, "starcoder2")
    with pytest.raises(UserError) as err:
        export(md, quick_config())
    assert str(err.value) == ("cannot export a 'gpt2' model to GGUF; supported architectures: llama, qwen2, "
                              "starcoder2")
    assert not list(md.glob("*.gguf")) and not list(md.glob(".*tmp"))
