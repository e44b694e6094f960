"""The llama-cpp backend: a GGUF written by `assistant export`, run in process by llama.cpp (llama-cpp-python).

Select it with `server.backend = "llama-cpp"` (or `assistant serve --backend llama-cpp`). Which file runs is
`server.gguf`: auto (the export's f16/f32 file, else its first quantized one, else its LoRA over the base
GGUF), a type such as q8_0, or a file name in the model dir; `server.base` may also name a .gguf file
directly. Threads come from `server.threads` (0: one for a model under 50M parameters, all cores otherwise).

Prompt-prefix reuse is on: llama-cpp-python's `Llama.generate` keeps the previous request's KV cache and
evaluates only the tokens after the longest common prefix, so a keystroke costs the new tokens, not the
whole prompt. Pieces are yielded per token, so `backends.base.generate` can stop between any two. A
left-to-right prompt is healed as the transformers backend heals it (`assistant.healing`).
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import threading
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
from server.backends.base import Capabilities, GenerationCounts, GenerationRequest, trained_context


def choose_gguf(model_dir: Path, entries: list[dict[str, Any]], setting: str) -> tuple[Path, Path | None, str]:
    """(model GGUF, LoRA GGUF or None, type) for `server.gguf` from the manifest's list of exported files."""
    if not entries:
        raise UserError(f"{model_dir} has no GGUF export; run `assistant export --model-dir {model_dir}` or use "
                        "the transformers backend")
    if setting == "auto":
        full = [e for k in ("f32", "f16") for e in entries if e.get("type") == k]
        whole = [e for e in entries if not str(e.get("type", "")).startswith("lora")]
        entry = (full or whole or entries)[0]
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
        return backend
    if cfg.base.endswith(".gguf"):
        llm = open_llama(Path(cfg.base).expanduser(), context_window(cfg), None, cfg.threads)
        profile = resolve_profile(cfg.profile, _vocab(llm), cfg.base, fallback=LEFT_TO_RIGHT)
        return LlamaCppBackend(llm, profile, cfg.base)
    raise UserError(f"no GGUF to serve: {model_dir or 'this workspace'} has no model dir and server.base is not a "
                    ".gguf file; run `assistant train` and `assistant export`, or set server.base")


def _vocab(llm: Any) -> set[str]:
    import llama_cpp

    vocab = llm._model.vocab
    return {llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8", "replace") for i in range(llm.n_vocab())}


class LlamaCppBackend:
    capabilities = Capabilities(kv_reuse=True)

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
        self.prompt_cache = True
        self.trained_context: int | None = None
        self.reused_tokens = 0
        """Prompt tokens the last generation took from the kept KV cache instead of evaluating them."""
        self._healer: Healer | bool | None = False
        """Token healing of a left-to-right prompt: built on first use (False: not yet; None: cannot be healed)."""

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        self.set_prompt_cache(kv_reuse)  # no speculative decoding in this engine: `draft_tokens` does not apply

    def set_prompt_cache(self, enabled: bool) -> None:
        """Reuse (or not) the KV cache of the previous prompt's common prefix (`server.kv_reuse`)."""
        with self._lock:
            self.prompt_cache = enabled
            self.llm.reset()

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
        return GenerationCounts(reused_tokens=self.reused_tokens)

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
        if not self.prompt_cache:
            self.llm.reset()  # Llama.generate only reuses what the context still holds
        self.reused_tokens = self._common_prefix(ids)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        sampling = ({"temp": 0.0} if request.temperature <= 0 else
                    {"temp": request.temperature, "top_k": 0, "top_p": 1.0, "min_p": 0.0})  # plain sampling
        healed_bytes, spelled = healed.encode("utf-8"), b""  # the taken-back text; what the model wrote of it

        def heal(_: Any, scores: Any) -> Any:
            """Before each token: while the taken-back text is not spelled again, only tokens that spell it."""
            if healer is None or len(spelled) >= len(healed_bytes):
                return scores
            keep = healer.allowed(healed_bytes[len(spelled):].decode("utf-8"))
            allowed = np.full_like(scores, -np.inf)
            allowed[keep] = scores[keep]
            return allowed

        first = True
        tokens = self.llm.generate(ids, repeat_penalty=1.0, reset=True, logits_processor=[heal] if healed else None,
                                   **sampling)
        for count, token in enumerate(tokens, 1):
            if token in self._end_ids:
                return
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
            if count >= limit:
                return

    def _common_prefix(self, ids: list[int]) -> int:
        """What `Llama.generate` will keep: the common prefix with the evaluated tokens, less one if it is all of
        `ids` (the last prompt token is evaluated again to get fresh logits)."""
        held = list(self.llm.input_ids[: self.llm.n_tokens])
        common = 0
        for a, b in zip(held, ids, strict=False):
            if a != b:
                break
            common += 1
        return common - 1 if common == len(ids) and common else common

    def _piece(self, token: int) -> bytes:
        import llama_cpp

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n  # the piece is longer than the buffer: llama.cpp says how long
