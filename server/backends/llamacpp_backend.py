"""The llama-cpp backend: a GGUF written by `assistant export`, run in process by llama.cpp (llama-cpp-python).

`server.backend = "auto"` picks it whenever the model dir holds a GGUF export (`train` writes one for a pretrained
base); `"llama-cpp"` asks for it outright. Which file runs is `server.gguf`: auto (the export's q8_0 file, else
its f16/f32 one, else its first quantized one, else its LoRA over the base GGUF), a type such as q4_k_m, or a
file name in the model dir; `server.base` may also name a .gguf file directly. Threads come from
`server.threads` (0: one for a model under 50M parameters, all cores otherwise).

The decode loop is ours, on llama.cpp's batch API, so that every latency feature of the transformers backend is
here too:
- KV reuse: the tokens the KV cache holds are kept; a new prompt is cut back to its common prefix with them and
  only the rest is evaluated, so a keystroke costs the new tokens, not the whole prompt (`server.kv_reuse`).
- Speculative drafts (greedy only): tokens guessed by `server.drafts` from the prompt and the last completions go
  through the model in the same batch as the next token, with logits for each; the part the model agrees with
  is kept and the rest removed from the KV cache, so the output is the greedy output (`server.draft_tokens`).
- Pieces are yielded per token, so `backends.base.generate` stops between any two (stop strings, the settled
  text, the deadline, cancellation); a long prompt is evaluated `PROMPT_CHUNK` tokens at a time with a checkpoint
  after each, so that a newer request does not wait for a stale prompt; what was evaluated stays in the KV cache.
- The rate of prompt evaluation is measured (`prompt_rate`, first at load by `warm_up`), for the server to size a
  cold prompt by. A left-to-right prompt is healed as the transformers backend heals it (`assistant.healing`).
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import ServerConfig
from assistant.errors import UserError
from assistant.healing import Healer, split_prompt
from assistant.llama import open_llama
from assistant.modeldir import read_manifest
from assistant.profiles import LEFT_TO_RIGHT, Profile, get_profile, resolve_profile
from server.backends.base import Capabilities, GenerationCounts, GenerationRequest, PromptRate, trained_context
from server.drafts import Drafts, agreed_length

PROMPT_CHUNK = 128
"""Prompt tokens evaluated between two checkpoints: small enough that a stale prompt is soon stopped, large
enough that a cold prompt costs little more than in batches of n_batch."""


def choose_gguf(model_dir: Path, entries: list[dict[str, Any]], setting: str) -> tuple[Path, Path | None, str]:
    """(model GGUF, LoRA GGUF or None, type) for `server.gguf` from the manifest's list of exported files."""
    if not entries:
        raise UserError(f"{model_dir} has no GGUF export; run `assistant export --model-dir {model_dir}` or use "
                        "the transformers backend")
    if setting == "auto":  # q8_0: next to lossless, and about twice as fast as f16 where decoding is memory-bound
        preferred = [e for k in ("q8_0", "f16", "f32") for e in entries if e.get("type") == k]
        whole = [e for e in entries if not str(e.get("type", "")).startswith("lora")]
        entry = (preferred or whole or entries)[0]
    else:
        matching = [e for e in entries if setting in (e.get("type"), e.get("file"))]
        if matching:
            entry = matching[0]
        else:
            have = ", ".join(f"{e.get('type')} ({e.get('file')})" for e in entries)
            raise UserError(f"server.gguf = {setting!r} is not among {model_dir}'s exports: {have}; choose one of "
                            f"them or `assistant export --quant {setting}`")
    file = model_dir / str(entry["file"])
    if str(entry.get("type", "")).startswith("lora"):
        return Path(str(entry["base"])), file, str(entry["type"])
    return file, None, str(entry.get("type", ""))


def context_window(cfg: ServerConfig) -> int:
    """KV cache size: the context budget, the tokens to generate, and room for sentinels and file headers."""
    return cfg.context_tokens + cfg.max_new_tokens + 512


def load_llamacpp(cfg: ServerConfig, model_dir: Path | None) -> LlamaCppBackend:
    """The backend for a model dir's export, or for `server.base` when it names a .gguf file."""
    if model_dir is not None and (model_dir / "model.json").exists():
        manifest = read_manifest(model_dir)
        model_path, lora, kind = choose_gguf(model_dir, manifest.gguf, cfg.gguf)
        profile = get_profile(manifest.profile) if cfg.profile == "auto" else get_profile(cfg.profile)
        name = f"{manifest.base} + {model_dir} ({kind} gguf)"
        backend = LlamaCppBackend(open_llama(model_path, context_window(cfg), lora, cfg.threads), profile, name)
        backend.trained_context = trained_context(manifest)
        backend.warm_up()
        return backend
    if cfg.base.endswith(".gguf"):
        llm = open_llama(Path(cfg.base).expanduser(), context_window(cfg), None, cfg.threads)
        profile = resolve_profile(cfg.profile, _vocab(llm), cfg.base, fallback=LEFT_TO_RIGHT)
        backend = LlamaCppBackend(llm, profile, cfg.base)
        backend.warm_up()
        return backend
    raise UserError(f"no GGUF to serve: {model_dir or 'this workspace'} has no model dir and server.base is not a "
                    ".gguf file; run `assistant train` and `assistant export`, or set server.base")


def _vocab(llm: Any) -> set[str]:
    import llama_cpp

    vocab = llm._model.vocab
    return {llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8", "replace") for i in range(llm.n_vocab())}


class LlamaCppBackend:
    capabilities = Capabilities(kv_reuse=True, drafting=True)

    def __init__(self, llm: Any, profile: Profile, name: str) -> None:
        import llama_cpp

        self.llm = llm
        self.profile = profile
        self.name = name
        self._vocab = llm._model.vocab
        self._lock = threading.Lock()  # one generation at a time: the context and its KV cache are shared
        # SentencePiece vocabularies mark a word start with a space; like the transformers decoder, drop the one
        # in front of the first generated piece.
        self._strip_first_space = llama_cpp.llama_vocab_type(self._vocab) == llama_cpp.LLAMA_VOCAB_TYPE_SPM
        self._end_ids = self._special_stop_ids()
        self._n_vocab = llm.n_vocab()
        self._rng = np.random.default_rng()
        self.prompt_cache = True
        self._held: list[int] = []
        """Exactly the tokens whose keys and values the KV cache holds, in order from position 0."""
        self.trained_context: int | None = None
        self.reused_tokens = 0
        """Prompt tokens the last generation took from the kept KV cache instead of evaluating them."""
        self.drafts: Drafts | None = None
        self.drafted_tokens = 0
        self.accepted_draft_tokens = 0
        """Draft tokens the last generation proposed, and how many of them the model agreed with."""
        self.decoded_tokens = 0
        """Tokens run through the model since loading (prompt, generated and draft tokens alike)."""
        self._rate = PromptRate()
        self._healer: Healer | bool | None = False
        """Token healing of a left-to-right prompt: built on first use (False: not yet; None: cannot be healed)."""

    @property
    def prompt_rate(self) -> float | None:
        return self._rate.value

    def warm_up(self) -> None:
        """Evaluate two chunks of a prompt, so that the first request finds the engine warm and its prompt rate
        known."""
        text = (__doc__ or "") * (1 + 8 * PROMPT_CHUNK // max(1, len(__doc__ or "")))
        tokens = self.encode(text)[:2 * PROMPT_CHUNK]
        with self._lock:
            for chunk in (tokens[:PROMPT_CHUNK], tokens[PROMPT_CHUNK:]):
                started = time.monotonic()
                self._decode(chunk, 0)
                self._rate.add(len(chunk), time.monotonic() - started)
            self._forget(0)

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        self.set_prompt_cache(kv_reuse)
        self.set_drafting(draft_tokens)

    def set_prompt_cache(self, enabled: bool) -> None:
        """Reuse (or not) the KV cache of the previous prompt's common prefix (`server.kv_reuse`)."""
        with self._lock:
            self.prompt_cache = enabled
            self._forget(0)

    def set_drafting(self, max_tokens: int) -> None:
        """Speculative decoding with drafts of up to `max_tokens` tokens; 0 turns it off."""
        with self._lock:
            self.drafts = Drafts(max_tokens) if max_tokens > 0 else None

    def _special_stop_ids(self) -> set[int]:
        """EOS/EOT, and the profile's end token and stop strings that are single special tokens."""
        import llama_cpp

        ids = {int(llama_cpp.llama_vocab_eos(self._vocab)), int(llama_cpp.llama_vocab_eot(self._vocab))}
        for text in (self.profile.end_token, *self.profile.stop):
            tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) == 1 and llama_cpp.llama_vocab_get_attr(self._vocab, tokens[0]) & (
                    llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED):
                ids.add(int(tokens[0]))
        ids.discard(-1)
        return ids

    @functools.cached_property
    def _special_ids(self) -> set[int]:
        """BOS and every control token: a prompt ending with one is not healed."""
        import llama_cpp

        control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        return {int(llama_cpp.llama_vocab_bos(self._vocab)), *self._end_ids,
                *(i for i in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_get_attr(self._vocab, i) & control)}

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0

    def last_counts(self) -> GenerationCounts:
        return GenerationCounts(self.reused_tokens, self.drafted_tokens, self.accepted_draft_tokens)

    def encode(self, prompt: str) -> list[int]:
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def healer(self) -> Healer | None:
        """The healer of a left-to-right profile, or None (a FIM prompt ends with its sentinel; a vocabulary whose
        pieces do not spell the text one by one, such as SentencePiece's, is not healed)."""
        if not self.profile.left_to_right or self._strip_first_space:
            return None
        if self._healer is False:
            pieces = [self._piece(i).decode("utf-8", "replace") for i in range(self.llm.n_vocab())]
            probe = "def f(x):\n    return x\n"
            tokens = self.llm.tokenize(probe.encode("utf-8"), add_bos=False, special=False)
            self._healer = Healer(pieces) if "".join(pieces[t] for t in tokens) == probe else None
        return self._healer if isinstance(self._healer, Healer) else None

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self._lock:
            yield from self._stream(request)

    def _stream(self, request: GenerationRequest) -> Iterator[str]:
        ids = self.encode(request.prompt)
        healer = self.healer()
        healed = ""
        if healer is not None:
            ids, healed = split_prompt(ids, healer.pieces.__getitem__, self._special_ids)
        room = self.llm.n_ctx() - len(ids)
        if room <= 0:
            raise UserError(f"the prompt is {len(ids)} tokens, more than llama.cpp's context of {self.llm.n_ctx()}; "
                            "lower server.context_tokens")
        limit = min(request.max_new_tokens, room)
        kept = self._reusable(ids)
        self._forget(kept)
        self.reused_tokens = kept
        self.drafted_tokens = self.accepted_draft_tokens = 0
        drafts = self.drafts if request.temperature <= 0 else None
        pending = ids[kept:]  # not in the cache yet: the rest of the prompt, then the last token picked
        generated: list[int] = []
        end: list[int] = []
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        healed_bytes, spelled = healed.encode("utf-8"), b""  # the taken-back text; what the model wrote of it
        first = True
        started, evaluated = time.monotonic(), len(pending)
        try:
            while len(pending) > PROMPT_CHUNK:  # the prompt's last chunk goes in with the first step
                self._decode(pending[:PROMPT_CHUNK], 0)
                pending = pending[PROMPT_CHUNK:]
                yield ""
            while len(generated) < limit:
                remaining = healed_bytes[len(spelled):]
                room = limit - len(generated) - 1  # the draft and its one more token fit
                draft = drafts.propose(ids + generated, len(generated), room) \
                    if drafts is not None and not remaining else []
                logits = self._decode(pending + draft, len(draft) + 1)  # [len(draft) + 1, vocab]
                if evaluated:
                    self._rate.add(evaluated, time.monotonic() - started)
                    evaluated = 0
                if remaining and healer is not None:  # only tokens that spell the taken-back text again
                    allowed = np.full_like(logits[0], -np.inf)
                    keep = healer.allowed(remaining.decode("utf-8", "replace"))
                    allowed[keep] = logits[0][keep]
                    logits[0] = allowed
                picks = self._pick(logits, request.temperature)
                agreed = agreed_length(picks, draft)
                if agreed < len(draft):  # the cache holds the whole draft: cut what the model did not agree with
                    self._forget(len(self._held) - (len(draft) - agreed))
                if drafts is not None:
                    drafts.checked(len(draft), agreed)
                    self.drafted_tokens += len(draft)
                    self.accepted_draft_tokens += agreed
                for token in picks[:agreed + 1]:
                    if token in self._end_ids:
                        end = [token]
                        return
                    generated.append(token)
                    piece = self._piece(token)
                    if len(spelled) < len(healed_bytes):  # the token spells (part of) the taken-back text, maybe more
                        spelled += piece
                        piece = spelled[len(healed_bytes):]
                    text = decoder.decode(piece)
                    if text and first and self._strip_first_space and text.startswith(" "):
                        text = text[1:]
                    first = first and not text
                    if text and not decoder.getstate()[0]:  # hold back a partial UTF-8 character
                        yield text
                pending = [picks[agreed]]
        finally:
            if drafts is not None:
                drafts.remember(ids, generated + end)

    def _reusable(self, ids: list[int]) -> int:
        """How many of `ids` the KV cache already holds: the common prefix with the tokens it holds, at most all
        but one of `ids` (a token is left to compute the next logits from); 0 with the prompt cache off."""
        if not self.prompt_cache:
            return 0
        common, limit = 0, min(len(self._held), len(ids) - 1)
        while common < limit and self._held[common] == ids[common]:
            common += 1
        return common

    def _forget(self, length: int) -> None:
        """Cut the KV cache back to its first `length` tokens."""
        if length < len(self._held) or length == 0:
            self.llm._ctx.kv_cache_seq_rm(0, length, -1)
        del self._held[length:]

    def _decode(self, tokens: list[int], keep: int) -> np.ndarray:
        """Run `tokens` through the model after the cached ones, in batches of at most n_batch; the logits of the
        last `keep` positions ([keep, vocab]: the token after each of them)."""
        held, self._held = self._held, []  # until every decode succeeds, the cache is not trustworthy
        batch, step = self.llm._batch, self.llm.n_batch
        head = max(0, len(tokens) - step)  # the last batch holds the last `keep` positions (keep <= n_batch)
        chunks = [tokens[i:min(i + step, head)] for i in range(0, head, step)] + [tokens[head:]]
        for chunk in chunks:
            batch.set_batch(chunk, len(held), logits_all=False)
            if chunk is chunks[-1]:
                for i in range(len(chunk) - keep, len(chunk)):
                    batch.batch.logits[i] = True
            self.llm._ctx.decode(batch)
            held.extend(chunk)
        last = chunks[-1]
        rows = np.stack([np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(i), shape=(self._n_vocab,))
                         for i in range(len(last) - keep, len(last))]) if keep else np.empty((0, self._n_vocab))
        self.decoded_tokens += len(tokens)
        self._held = held
        return rows

    def _pick(self, logits: np.ndarray, temperature: float) -> list[int]:
        """The token each row of `logits` [n, vocab] picks: the most likely, or one sampled at `temperature`."""
        if temperature <= 0:
            return [int(t) for t in np.argmax(logits, axis=-1)]
        scaled = (logits - logits.max(axis=-1, keepdims=True)) / temperature
        probs = np.exp(scaled)
        probs /= probs.sum(axis=-1, keepdims=True)
        return [int(self._rng.choice(len(row), p=row)) for row in probs]

    def _piece(self, token: int) -> bytes:
        import llama_cpp

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n  # the piece is longer than the buffer: llama.cpp says how long
