"""The transformers backend: the base model (plus its LoRA adapter) run in process with torch.

Generation is a plain token loop over the model's KV cache, so it can stop between any two tokens
(deadline, cancellation, stop strings are applied by `backends.base.generate`).

KV reuse across keystrokes: the cache of the last prompt (and of the tokens generated after it) is kept.
A new prompt shares a long token prefix with the last one (the file header and the code above the
cursor); the cache is cropped to that common prefix and only the rest of the prompt is run through the
model. Turn it off with `server.kv_reuse = false` (`set_prompt_cache(False)`).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from assistant.hf import Loaded
from server.backends.base import SMALL_MODEL_PARAMETERS, GenerationRequest, trained_context


class TransformersBackend:
    def __init__(self, loaded: Loaded, threads: int = 0) -> None:
        if threads == 0 and sum(p.numel() for p in loaded.model.parameters()) < SMALL_MODEL_PARAMETERS:
            threads = 1
        if threads > 0:
            torch.set_num_threads(threads)
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.profile = loaded.profile
        self.name = loaded.name
        self._lock = threading.Lock()  # one generation at a time: the model and its cache are shared
        self._end_ids = self._special_stop_ids()
        self.prompt_cache = True
        self._past: Any = None
        self._past_ids: list[int] = []
        """Exactly the tokens whose keys and values `_past` holds."""
        self.reused_tokens = 0
        """Prompt tokens the last generation took from the kept cache instead of computing them."""
        model: Any = loaded.model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        takes_keep = "logits_to_keep" in inspect.signature(base.forward).parameters
        self._last_only = {"logits_to_keep": 1} if takes_keep else {}
        """Logits of the last position only, where the model can: a prompt's others cost len x vocab for nothing."""
        self.trained_context = trained_context(loaded.manifest)
        """Longest sequence a model trained from scratch has seen (None: a pretrained base, or unknown)."""

    def _special_stop_ids(self) -> set[int]:
        """Token ids that end a completion: EOS, the profile's end token and its special stop tokens."""
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        vocab = self.tokenizer.get_vocab()
        for token in (self.profile.end_token, *self.profile.stop):
            if token in vocab:
                ids.add(vocab[token])
        return ids

    def set_prompt_cache(self, enabled: bool) -> None:
        """Keep (or stop keeping) the last prompt's KV cache for the next prompt's common prefix."""
        with self._lock:
            self.prompt_cache = enabled
            self._past, self._past_ids = None, []

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text)) if text else 0

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self._lock, torch.inference_mode():
            yield from self._stream(request)

    def _stream(self, request: GenerationRequest) -> Iterator[str]:
        ids = self.encode(request.prompt)
        past, fed = self._reusable(ids)
        self.reused_tokens = len(fed)
        logits = self._feed(past, fed, ids[len(fed):])
        generated: list[int] = []
        emitted = ""
        for _ in range(request.max_new_tokens):
            token = _pick(logits, request.temperature)
            if token in self._end_ids:
                return
            generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=False)
            if not text.endswith("\ufffd"):  # hold back a partial UTF-8 character
                piece, emitted = text[len(emitted):], text
                yield piece
            logits = self._feed(past, fed, [token])

    def _feed(self, past: Any, fed: list[int], new: list[int]) -> Any:
        """Run `new` tokens through the model on top of `past` (which holds `fed`); the next token's logits."""
        self._past, self._past_ids = None, []  # until the forward completes, the cache is not trustworthy
        out = self.model(input_ids=torch.tensor([new]), past_key_values=past, use_cache=True, **self._last_only)
        fed.extend(new)
        if self.prompt_cache:
            self._past, self._past_ids = past, fed
        return out.logits[0, -1]

    def _reusable(self, ids: list[int]) -> tuple[Any, list[int]]:
        """A cache holding the longest common prefix of `ids` with the kept tokens (at most all but one of `ids`,
        so that a token is left to compute the next logits from), and those tokens."""
        past, kept = self._past, self._past_ids
        common = 0
        if past is not None and self.prompt_cache and _croppable(past):
            limit = min(len(kept), len(ids) - 1)
            while common < limit and kept[common] == ids[common]:
                common += 1
        if common == 0:
            return DynamicCache(config=self.model.config), []
        past.crop(common - past.get_seq_length())  # a negative count: drop the tokens after the common prefix
        return past, kept[:common]


def _croppable(past: Any) -> bool:
    """Plain full-attention layers can be cut back to any length; sliding-window ones have forgotten too much."""
    return all(type(layer) is DynamicLayer and not isinstance(layer, DynamicSlidingWindowLayer)
               for layer in past.layers)


def _pick(logits: Any, temperature: float) -> int:
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return int(torch.multinomial(probs, 1))
