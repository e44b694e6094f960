"""The tokenizer as GGUF metadata: every token, its type, merges or scores, special and FIM token ids.

llama.cpp re-implements tokenization, so the GGUF must say exactly which algorithm to run:

- byte-level BPE (`tokenizer.ggml.model = "gpt2"`): tokens as the byte-level strings of the vocab, the merges,
  and the name of the pre-tokenizer (`tokenizer.ggml.pre`), which selects llama.cpp's built-in split regexes.
  The name is read off the structure of the tokenizer's pre-tokenizer (`PRE_TOKENIZERS`); one we do not
  recognise fails the export instead of guessing (a wrong guess would tokenize differently, silently).
- SentencePiece-style BPE with byte fallback (`"llama"`: CodeLlama): `▁` for spaces, `<0xNN>` byte tokens,
  and scores that make llama.cpp's score-ordered merging follow the merge ranks.

The FIM prefix/suffix/middle ids come from the profile's template, so llama.cpp's infill uses the same tokens
the model was trained with. Used by `trainer.export.writer`; checked end to end by `trainer.export.parity`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import gguf

from assistant.errors import UserError
from assistant.profiles import Profile

T = gguf.TokenType

# The Qwen2 split regex as it appears in Qwen2(.5) tokenizer.json files.
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
_ISOLATED = "Isolated"

# Pre-tokenizer structure -> llama.cpp pre-tokenizer name. Each step is (type, parameters that matter).
PRE_TOKENIZERS: dict[tuple[tuple[Any, ...], ...], str] = {
    (("ByteLevel", True),): "gpt-2",  # GPT-2's regex inside ByteLevel: the tiny base
    (("Digits", True), ("ByteLevel", True)): "starcoder",  # StarCoder/StarCoder2: single digits, then GPT-2
    (("Split", _QWEN2_SPLIT, _ISOLATED), ("ByteLevel", False)): "qwen2",
    (("Split", "[\r\n]", _ISOLATED), ("Split", r"\s?\p{L}+", _ISOLATED), ("Split", r"\s?\p{P}+", _ISOLATED),
     ("Split", "[一-龥ࠀ-一가-퟿]+", _ISOLATED), ("Digits", True), ("ByteLevel", False)): "deepseek-coder",
}


@dataclass
class Vocab:
    """Everything `write_vocab` puts into the GGUF header."""

    model: str
    """'gpt2' (byte-level BPE) or 'llama' (SentencePiece-style)."""
    pre: str | None
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    special_ids: dict[str, int] = field(default_factory=dict)
    """bos, eos, unk, pad, eot, fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep -> token id."""
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None


def vocab_from_tokenizer(tokenizer: Any, profile: Profile, n_vocab: int) -> Vocab:
    """Read a transformers fast tokenizer into a `Vocab` of exactly `n_vocab` tokens (the embedding rows)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UserError("the tokenizer has no tokenizer.json (a 'fast' tokenizer is needed for GGUF export); "
                        "save it with a recent transformers (AutoTokenizer.from_pretrained(...).save_pretrained)")
    spec = json.loads(backend.to_str())
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise UserError(f"cannot export a {model.get('type')} tokenizer to GGUF; supported: byte-level BPE "
                        "(Qwen, StarCoder, DeepSeek-Coder, tiny) and SentencePiece-style BPE (CodeLlama)")
    by_id = {i: tok for tok, i in tokenizer.get_vocab().items()}
    if max(by_id) >= n_vocab:
        raise UserError(f"the tokenizer has token id {max(by_id)} but the model only {n_vocab} embeddings; "
                        "the model dir's tokenizer does not belong to its weights (retrain)")
    added = {i: t for i, t in tokenizer.added_tokens_decoder.items()}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    spm = bool(model.get("byte_fallback")) and _uses_metaspace(spec)

    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        text = by_id.get(i)
        if text is None:  # an embedding row with no token (vocab padded to a round size)
            tokens.append(f"[PAD{i}]")
            types.append(T.UNUSED)
        elif i in added:
            tokens.append(text)
            types.append(T.CONTROL if added[i].special else T.USER_DEFINED)
        elif spm and _is_byte_token(text):
            tokens.append(text)
            types.append(T.BYTE)
        elif text == model.get("unk_token"):
            tokens.append(text)
            types.append(T.UNKNOWN)
        else:
            tokens.append(text)
            types.append(T.NORMAL)

    vocab = Vocab(model="llama" if spm else "gpt2", pre=None if spm else pre_tokenizer_name(spec),
                  tokens=tokens, types=types)
    if spm:
        vocab.scores = merge_rank_scores(tokens, merges)
        vocab.add_space_prefix = _adds_space_prefix(spec)
    else:
        vocab.merges = merges
    vocab.special_ids = special_ids(tokenizer, profile)
    vocab.add_bos, vocab.add_eos = _adds_bos_eos(tokenizer)
    return vocab


def pre_tokenizer_name(spec: dict[str, Any]) -> str:
    """llama.cpp's name for the byte-level tokenizer's pre-tokenizer, or UserError."""
    pre = spec.get("pre_tokenizer")
    if spec.get("normalizer") not in (None, {"type": "NFC"}):
        # NFC is a no-op on the ASCII-dominated text of code; anything else changes what gets tokenized.
        raise UserError(f"cannot export a tokenizer with normalizer {spec['normalizer'].get('type')} to GGUF "
                        "(llama.cpp would tokenize differently)")
    steps = pre["pretokenizers"] if pre and pre.get("type") == "Sequence" else [pre] if pre else []
    signature = tuple(_step_signature(s) for s in steps)
    name = PRE_TOKENIZERS.get(signature)
    if name is None:
        raise UserError(f"this tokenizer's pre-tokenizer ({' > '.join(str(s[0]) for s in signature) or 'none'}) "
                        "has no llama.cpp equivalent known to the exporter; supported: tiny, Qwen2.5-Coder, "
                        "StarCoder2, DeepSeek-Coder and CodeLlama tokenizers")
    return name


def _step_signature(step: dict[str, Any]) -> tuple[Any, ...]:
    kind = step.get("type")
    if kind == "ByteLevel":
        if step.get("add_prefix_space"):
            return ("ByteLevel+prefix-space",)  # no llama.cpp pre-tokenizer adds one: unsupported
        return ("ByteLevel", step.get("use_regex", True))
    if kind == "Split":
        pattern = step.get("pattern", {})
        if step.get("invert"):
            return ("Split-inverted",)
        return ("Split", pattern.get("Regex", pattern.get("String")), step.get("behavior"))
    if kind == "Digits":
        return ("Digits", bool(step.get("individual_digits")))
    return (kind,)


def _uses_metaspace(spec: dict[str, Any]) -> bool:
    """SentencePiece style: spaces become '▁' (legacy Llama normalizer, or a Metaspace pre-tokenizer)."""
    norm = json.dumps(spec.get("normalizer"))
    pre = spec.get("pre_tokenizer") or {}
    return '"content": "\\u2581"' in norm or pre.get("type") == "Metaspace"


def _adds_space_prefix(spec: dict[str, Any]) -> bool:
    norm = spec.get("normalizer") or {}
    steps = norm.get("normalizers", [norm])
    if any(s.get("type") == "Prepend" for s in steps):
        return True
    pre = spec.get("pre_tokenizer") or {}
    return pre.get("type") == "Metaspace" and pre.get("prepend_scheme", "always") != "never"


def _is_byte_token(text: str) -> bool:
    return len(text) == 6 and text.startswith("<0x") and text.endswith(">")


def merge_rank_scores(tokens: list[str], merges: list[str]) -> list[float]:
    """Scores for llama.cpp's SentencePiece merging: the earlier a merge, the higher its result's score.

    llama.cpp merges the adjacent pair whose joined text has the highest score; with score = -rank of the
    merge that first produces a token it applies merges in the same order as the BPE model does.
    """
    rank: dict[str, int] = {}
    for r, merge in enumerate(merges):
        left, _, right = merge.partition(" ")
        rank.setdefault(left + right, r)
    scores = []
    for text in tokens:
        if text in rank:
            scores.append(-float(rank[text]) - 1.0)
        elif len(text) == 1:
            scores.append(0.0)  # a single character: a starting symbol, never the result of a merge
        else:
            scores.append(-1e9)  # no merge makes it (special or unused): never prefer it
    return scores


def special_ids(tokenizer: Any, profile: Profile) -> dict[str, int]:
    """The role -> id map llama.cpp reads: BOS/EOS/UNK/PAD, the end-of-middle token and the FIM sentinels (none for a
    left-to-right profile)."""
    vocab = tokenizer.get_vocab()
    ids: dict[str, int] = {}
    for role in ("bos", "eos", "unk", "pad"):
        value = getattr(tokenizer, f"{role}_token_id", None)
        if value is not None:
            ids[role] = int(value)
    if profile.end_token in vocab and vocab[profile.end_token] != ids.get("eos"):
        ids["eot"] = vocab[profile.end_token]
    if profile.left_to_right:  # prompted with the code before the cursor alone: no FIM tokens to name
        return ids
    sentinels = profile.sentinels
    if len(sentinels) != 3 or any(s not in vocab for s in sentinels):
        raise UserError(f"the tokenizer lacks the {profile.name} profile's FIM tokens {sentinels}; "
                        "set train.profile to the profile of this model's family and retrain")
    roles = profile.fim_tokens
    ids["fim_pre"], ids["fim_suf"], ids["fim_mid"] = (vocab[roles[r]] for r in ("prefix", "suffix", "middle"))
    for role, candidates in (("fim_pad", ("<|fim_pad|>", "<fim_pad>")), ("fim_rep", ("<|repo_name|>", "<repo_name>"))):
        for text in candidates:
            if text in vocab:
                ids[role] = vocab[text]
                break
    if profile.file_sep and profile.file_sep in vocab:
        ids["fim_sep"] = vocab[profile.file_sep]
    return ids


def _adds_bos_eos(tokenizer: Any) -> tuple[bool, bool]:
    """Whether the tokenizer puts BOS before (EOS after) a text: llama.cpp must do the same."""
    with_special = list(tokenizer("x", add_special_tokens=True)["input_ids"])
    plain = list(tokenizer("x", add_special_tokens=False)["input_ids"])
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    add_bos = len(with_special) > len(plain) and bos is not None and with_special[0] == bos
    add_eos = len(with_special) > len(plain) and eos is not None and with_special[-1] == eos
    return add_bos, add_eos


def write_vocab(writer: gguf.GGUFWriter, vocab: Vocab) -> None:
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre is not None:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    keys = gguf.Keys.Tokenizer
    by_role = {"bos": keys.BOS_ID, "eos": keys.EOS_ID, "unk": keys.UNK_ID, "pad": keys.PAD_ID, "eot": keys.EOT_ID,
               "fim_pre": keys.FIM_PRE_ID, "fim_suf": keys.FIM_SUF_ID, "fim_mid": keys.FIM_MID_ID,
               "fim_pad": keys.FIM_PAD_ID, "fim_rep": keys.FIM_REP_ID, "fim_sep": keys.FIM_SEP_ID}
    for role, token_id in vocab.special_ids.items():
        writer.add_uint32(by_role[role], token_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
