"""The completion pipeline: context -> prompt -> generate -> postprocess, one small step each.

`Completer.complete` is what the LSP server, `assistant complete` and `assistant eval` all call, so an
editor, the terminal and the evaluation see the same completion for the same document and cursor. The
server calls its steps one by one (`prepare`, `from_cache`, `generate`) to report model calls, to give
a request the time budget that was left when it arrived, and to join a prefetch already under way.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

from assistant.config import ServerConfig
from assistant.prompt import render_prompt
from server.backends.base import Backend, CancelToken, Generation, GenerationRequest, generate
from server.cache import ResultCache
from server.context import CompletionRequest, Context, build_context
from server.postprocess import postprocess, settled


@dataclass(frozen=True)
class Prepared:
    """A request made ready for the model: its context and the exact prompt text."""

    context: Context
    prompt: str
    max_new_tokens: int


@dataclass(frozen=True)
class Completion:
    text: str
    """The ghost text: the model's output after postprocessing."""
    generation: Generation
    context: Context
    source: str = "model"
    """'model' (generated now), 'cache' or 'prefetch' (the result cache), 'typed-through' (the shown one)."""


class Completer:
    def __init__(self, backend: Backend, cfg: ServerConfig) -> None:
        self.backend = backend
        self.profile = backend.profile
        self.cfg = _within_trained_context(cfg, backend.trained_context)
        # Sampling is meant to vary; a cache would freeze it.
        self.cache = ResultCache() if cfg.result_cache and cfg.temperature == 0 else None
        backend.configure(kv_reuse=cfg.kv_reuse, draft_tokens=cfg.draft_tokens)

    def complete(self, req: CompletionRequest, cancel: CancelToken | None = None,
                 max_new_tokens: int | None = None) -> Completion:
        prepared = self.prepare(req, max_new_tokens)
        return self.from_cache(prepared) or self.generate(prepared, cancel)

    def prepare(self, req: CompletionRequest, max_new_tokens: int | None = None) -> Prepared:
        ctx = build_context(req, self.backend.count_tokens, self.cfg)
        return Prepared(ctx, render_prompt(self.profile, ctx.fim), max_new_tokens or self.cfg.max_new_tokens)

    def from_cache(self, prepared: Prepared) -> Completion | None:
        hit = self.cache.get(prepared.prompt, prepared.max_new_tokens) if self.cache is not None else None
        if hit is None:
            return None
        gen = Generation(hit.generation.text, hit.generation.finish, hit.generation.tokens, 0.0)
        return Completion(postprocess(gen.text, prepared.context), gen, prepared.context,
                          "prefetch" if hit.prefetched else "cache")

    def generate(self, prepared: Prepared, cancel: CancelToken | None = None, deadline: float | None = None,
                 prefetch: bool = False) -> Completion:
        """Run the model on the prompt until it stops, the deadline (default: now + the time budget) or `cancel`."""
        request = GenerationRequest(
            prompt=prepared.prompt,
            max_new_tokens=prepared.max_new_tokens,
            stop=self.profile.stop,
            deadline=deadline if deadline is not None else time.monotonic() + self.cfg.time_budget_ms / 1000,
            temperature=self.cfg.temperature,
            max_lines=prepared.context.max_lines,  # postprocessing would drop the lines after these
            settled=functools.partial(settled, ctx=prepared.context),  # ... and what follows a block's end or a loop
        )
        gen = generate(self.backend, request, cancel)
        if self.cache is not None:
            self.cache.put(prepared.prompt, prepared.max_new_tokens, gen, prefetched=prefetch)
        return Completion(postprocess(gen.text, prepared.context), gen, prepared.context)


def _within_trained_context(cfg: ServerConfig, trained: int | None) -> ServerConfig:
    """`cfg` with the context budget cut to what a model trained from scratch has seen (`Backend.trained_context`),
    leaving room for the completion as the trainer leaves room for the middle.
    Past its training length a small model's positions are noise, and so are its completions."""
    if trained is None or trained <= 0:
        return cfg
    limit = max(64, trained - cfg.max_new_tokens - 16)
    return dataclasses.replace(cfg, context_tokens=limit) if limit < cfg.context_tokens else cfg
