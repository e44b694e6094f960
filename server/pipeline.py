"""The completion pipeline: context -> prompt -> backend -> postprocess, one small step each.

`Completer.complete` is what the LSP handlers, `assistant complete` and `assistant eval` all call, so
an editor, the terminal and the evaluation see the same completion for the same document and cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from assistant.config import ServerConfig
from assistant.prompt import render_prompt
from server.backends.base import Backend, CancelToken, Generation, GenerationRequest, generate
from server.context import CompletionRequest, Context, build_context
from server.postprocess import postprocess


@dataclass(frozen=True)
class Completion:
    text: str
    generation: Generation
    context: Context


class Completer:
    def __init__(self, backend: Backend, cfg: ServerConfig) -> None:
        self.backend = backend
        self.profile = backend.profile
        self.cfg = cfg

    def complete(self, req: CompletionRequest, cancel: CancelToken | None = None,
                 max_new_tokens: int | None = None) -> Completion:
        ctx = build_context(req, self.backend.count_tokens, self.cfg)
        prompt = render_prompt(self.profile, ctx.fim)
        gen_req = GenerationRequest(
            prompt=prompt,
            max_new_tokens=max_new_tokens or self.cfg.max_new_tokens,
            stop=self.profile.stop,
            deadline=time.monotonic() + self.cfg.time_budget_ms / 1000,
            temperature=self.cfg.temperature,
        )
        gen = generate(self.backend, gen_req, cancel)
        return Completion(postprocess(gen.text, ctx), gen, ctx)
