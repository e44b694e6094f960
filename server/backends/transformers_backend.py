"""The transformers backend: the base model (plus its LoRA adapter) run in process with torch.

Generation is a plain token loop over the model's KV cache, so it can stop between any two tokens
(deadline, cancellation, stop strings are applied by `backends.base.generate`).

KV reuse across keystrokes: the cache of the last prompt (and of the tokens generated after it) is kept.
A new prompt shares a long token prefix with the last one (the file header and the code above the
cursor); the cache is cropped to that common prefix and only the rest of the prompt is run through the
model. Turn it off with `server.kv_reuse = false` (`set_prompt_cache(False)`).

Speculative decoding (greedy only): draft tokens from `server.drafts` go through the model with the next
token in one forward pass; the part the model agrees with is kept, the rest cut from the cache. The output
is the greedy output; for the tiny model a pass over 17 tokens costs about 1.5 times a pass over one (at 400
tokens of context: 18 ms against 12). Turn it off with `server.draft_tokens = 0` (`set_drafting(0)`).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from assistant.config import SMALL_MODEL_PARAMETERS
from assistant.healing import Healer, healer_for, split_prompt
from assistant.models import Loaded
from server.backends.base import Capabilities, GenerationCounts, GenerationRequest, PromptRate, trained_context
from server.drafts import Drafts, agreed_length


class TransformersBackend:
    capabilities = Capabilities(kv_reuse=True, drafting=True)

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
        self.drafts: Drafts | None = None
        self.drafted_tokens = 0
        self.accepted_draft_tokens = 0
        """Draft tokens the last generation proposed, and how many of them the model agreed with."""
        model: Any = loaded.model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self._takes_keep = "logits_to_keep" in inspect.signature(base.forward).parameters
        """Whether the model can compute logits for the last positions only (the prompt's others cost len x vocab
        for nothing)."""
        self.trained_context = trained_context(loaded.manifest)
        """Longest sequence a model trained from scratch has seen (None: a pretrained base, or unknown)."""
        self._rate = PromptRate()
        self._healer: Healer | bool | None = False
        """Token healing for prompts that end with the prefix (`assistant.healing`): built on first use (False:
        not yet; None: this tokenizer cannot be healed)."""

    def _special_stop_ids(self) -> set[int]:
        """Token ids that end a completion: EOS, the profile's end token and its special stop tokens."""
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        vocab = self.tokenizer.get_vocab()
        for token in (self.profile.end_token, *self.profile.stop):
            if token in vocab:
                ids.add(vocab[token])
        return ids

    @property
    def prompt_rate(self) -> float | None:
        return self._rate.value

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        self.set_prompt_cache(kv_reuse)
        self.set_drafting(draft_tokens)

    def set_prompt_cache(self, enabled: bool) -> None:
        """Keep (or stop keeping) the last prompt's KV cache for the next prompt's common prefix."""
        with self._lock:
            self.prompt_cache = enabled
            self._past, self._past_ids = None, []

    def set_drafting(self, max_tokens: int) -> None:
        """Speculative decoding with drafts of up to `max_tokens` tokens; 0 turns it off."""
        with self._lock:
            self.drafts = Drafts(max_tokens) if max_tokens > 0 else None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text)) if text else 0

    def last_counts(self) -> GenerationCounts:
        return GenerationCounts(self.reused_tokens, self.drafted_tokens, self.accepted_draft_tokens)

    def encode(self, prompt: str) -> list[int]:
        ids = list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        if not ids:  # a left-to-right prompt at the top of a file: start as a new document does
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None \
                else self.tokenizer.eos_token_id
            ids = [start] if start is not None else []
        return ids

    def healer(self) -> Healer | None:
        """The healer of a left-to-right profile, or None (a FIM prompt ends with its sentinel; a tokenizer whose
        tokens do not decode one by one into the text, such as SentencePiece's, is not healed)."""
        if not self.profile.left_to_right:
            return None
        if self._healer is False:
            self._healer = healer_for(self.tokenizer)
        return self._healer if isinstance(self._healer, Healer) else None

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self._lock, torch.inference_mode():
            yield from self._stream(request)

    def _stream(self, request: GenerationRequest) -> Iterator[str]:
        ids = self.encode(request.prompt)
        healer = self.healer()
        healed = ""
        if healer is not None:
            ids, healed = split_prompt(ids, healer.pieces.__getitem__, set(self.tokenizer.all_special_ids))
        past, fed = self._reusable(ids)
        self.reused_tokens = len(fed)
        self.drafted_tokens = self.accepted_draft_tokens = 0
        drafts = self.drafts if request.temperature <= 0 and _croppable(past) else None
        pending = ids[len(fed):]  # not in the cache yet: the rest of the prompt, then the last token picked
        generated: list[int] = []
        text = emitted = ""
        end: list[int] = []
        started, evaluated = time.monotonic(), len(pending)
        try:
            while len(generated) < request.max_new_tokens:
                remaining = healed[len(text):]  # of the taken-back text, what the model has not spelled again
                room = request.max_new_tokens - len(generated) - 1  # the draft and its one more token fit
                draft = drafts.propose(ids + generated, len(generated), room) \
                    if drafts is not None and not remaining else []
                logits = self._feed(past, fed, pending + draft, len(draft) + 1)  # [len(draft) + 1, vocab]
                if evaluated:
                    self._rate.add(evaluated, time.monotonic() - started)
                    evaluated = 0
                if remaining and healer is not None:
                    allowed = torch.full_like(logits[0], float("-inf"))
                    allowed[healer.allowed(remaining)] = 0
                    logits[0] += allowed
                picks = _pick(logits, request.temperature)
                agreed = agreed_length(picks, draft)
                if agreed < len(draft):  # the cache holds the whole draft: cut what the model did not agree with
                    past.crop(agreed - len(draft))
                    del fed[agreed - len(draft):]
                if drafts is not None:
                    drafts.checked(len(draft), agreed)
                    self.drafted_tokens += len(draft)
                    self.accepted_draft_tokens += agreed
                for token in picks[:agreed + 1]:
                    if token in self._end_ids:
                        end = [token]
                        return
                    generated.append(token)
                    text = self.tokenizer.decode(generated, skip_special_tokens=False)
                    if not text.endswith("\ufffd") and len(text) > len(healed):  # a partial UTF-8 character waits
                        piece, emitted = text[len(healed) + len(emitted):], text[len(healed):]
                        yield piece
                pending = [picks[agreed]]
        finally:
            if drafts is not None:
                drafts.remember(ids, generated + end)

    def _feed(self, past: Any, fed: list[int], new: list[int], keep: int = 1) -> Any:
        """Run `new` tokens through the model on top of `past` (which holds `fed`); the logits of the last `keep`
        positions ([keep, vocab]: the token after each of them)."""
        self._past, self._past_ids = None, []  # until the forward completes, the cache is not trustworthy
        last = {"logits_to_keep": keep} if self._takes_keep else {}
        out = self.model(input_ids=torch.tensor([new]), past_key_values=past, use_cache=True, **last)
        fed.extend(new)
        if self.prompt_cache:
            self._past, self._past_ids = past, fed
        return out.logits[0, -keep:]

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


def _pick(logits: Any, temperature: float) -> list[int]:
    """The token each row of `logits` [n, vocab] picks: the most likely, or one sampled at `temperature`."""
    if temperature <= 0:
        return [int(t) for t in torch.argmax(logits, dim=-1)]
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return [int(t) for t in torch.multinomial(probs, 1)[:, 0]]
