"""The transformers backend: the base model (plus its LoRA adapter) run in process with torch.

Generation is a plain token loop over the model's KV cache, so it can stop between any two tokens
(deadline, cancellation, stop strings are applied by `backends.base.generate`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import torch

from assistant.hf import Loaded
from server.backends.base import GenerationRequest


class TransformersBackend:
    def __init__(self, loaded: Loaded, threads: int = 0) -> None:
        if threads > 0:
            torch.set_num_threads(threads)
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.profile = loaded.profile
        self.name = loaded.name
        self._lock = threading.Lock()  # one generation at a time: the model and its cache are shared
        self._end_ids = self._special_stop_ids()

    def _special_stop_ids(self) -> set[int]:
        """Token ids that end a completion: EOS, the profile's end token and its special stop tokens."""
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        vocab = self.tokenizer.get_vocab()
        for token in (self.profile.end_token, *self.profile.stop):
            if token in vocab:
                ids.add(vocab[token])
        return ids

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text)) if text else 0

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self._lock, torch.inference_mode():
            yield from self._stream(request)

    def _stream(self, request: GenerationRequest) -> Iterator[str]:
        ids = self.encode(request.prompt)
        input_ids = torch.tensor([ids])
        out = self.model(input_ids=input_ids, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1]
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
            out = self.model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1]


def _pick(logits: Any, temperature: float) -> int:
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return int(torch.multinomial(probs, 1))
