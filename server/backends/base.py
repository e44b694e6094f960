"""The one Backend protocol every engine implements, and the collected form of generation.

A backend streams text pieces for a prompt (`stream`). `generate` turns a stream into a finished
`Generation`: it applies stop strings, the request's deadline and cancellation between tokens, the same
way for every engine. Closing the stream (the generator) is how a backend learns to stop early.

What an engine can do beyond streaming (KV reuse, speculative decoding) it declares in `capabilities`; every
engine implements the whole Protocol, and one without a feature ignores its setting in `configure` and
counts 0 for it in `last_counts`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from assistant.profiles import Profile


def trained_context(manifest: Any) -> int | None:
    """`train.max_seq_len` of a model trained in full here (tiny), or None (a pretrained base, or unknown).

    Past it a model trained from scratch has never seen a position; every engine exposes it as
    `Backend.trained_context`, and the pipeline keeps prompts within it, so all engines see the same prompt.
    """
    if manifest is None or manifest.kind != "full":
        return None
    length = manifest.training.get("config", {}).get("train", {}).get("max_seq_len")
    return length if isinstance(length, int) and length > 0 else None


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    deadline: float | None = None
    """time.monotonic() after which generation returns what it has."""
    temperature: float = 0.0
    max_lines: int | None = None
    """Stop once the text has this many lines (the newline that would start the next is not kept)."""
    settled: Callable[[str], bool] | None = None
    """Stop once this says the text so far is final (postprocessing would drop anything written after it)."""


class CancelToken:
    """Set from another thread to stop a generation between two tokens."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Generation:
    text: str
    finish: str
    """'stop' (end token or stop string), 'length', 'deadline' or 'cancelled'."""
    tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do beyond streaming text; fixed per engine. Off: the setting is ignored, its counts are 0."""

    kv_reuse: bool = False
    """Keeps the last prompt's KV cache and computes only what follows the common prefix (`server.kv_reuse`)."""
    drafting: bool = False
    """Speculative decoding with drafts from earlier completions (`server.draft_tokens`)."""


@dataclass(frozen=True)
class GenerationCounts:
    """What the last generation saved, for telemetry."""

    reused_tokens: int = 0
    """Prompt tokens taken from the kept KV cache instead of computed."""
    drafted_tokens: int = 0
    """Draft tokens proposed to the model."""
    accepted_draft_tokens: int = 0
    """Draft tokens the model agreed with (kept without a forward pass of their own)."""


class PromptRate:
    """Prompt tokens a second: the best rate seen evaluating a prompt's tokens that were not in the KV cache.

    The best, not a mean: a busy machine only ever makes an evaluation slower, so the best rate is what the engine
    can do, and the sizes the server derives from it do not move with the load of the moment."""

    MIN_TOKENS = 64
    """Fewer tokens than this time too little to tell."""

    def __init__(self) -> None:
        self.value: float | None = None

    def add(self, tokens: int, seconds: float) -> None:
        if tokens >= self.MIN_TOKENS and seconds > 0:
            self.value = max(self.value or 0.0, tokens / seconds)


class Backend(Protocol):
    """An engine that runs a model: transformers (+peft), llama.cpp, or an OpenAI-compatible server."""

    name: str
    """What the status line and telemetry call the model."""
    profile: Profile
    """The prompt profile the model was trained with."""
    capabilities: Capabilities
    """What this engine can do beyond streaming; telemetry reports counts only for these."""
    trained_context: int | None
    """Longest sequence a model trained from scratch has seen (`trained_context(manifest)`); the pipeline keeps
    prompts within it. None: a pretrained base, or unknown."""

    @property
    def prompt_rate(self) -> float | None:
        """Prompt tokens a second the engine evaluated at lately (`PromptRate`); None: not measured, or it cannot
        tell. The server sizes a cold prompt by it."""
        ...

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        """Apply `server.kv_reuse` and `server.draft_tokens` (0: no drafting); what the engine cannot do is ignored."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is for this model (context budgets are in tokens)."""
        ...

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text pieces as they are generated; stops at the model's end token or `max_new_tokens`. An empty piece is
        a checkpoint while the prompt is evaluated: the caller may stop there (cancelled, out of time)."""
        ...

    def last_counts(self) -> GenerationCounts:
        """What the generation `stream` ran last saved (0 for what the engine cannot do)."""
        ...


def generate(backend: Backend, request: GenerationRequest, cancel: CancelToken | None = None) -> Generation:
    """Run `backend.stream` to completion, a stop string, the deadline or cancellation."""
    started = time.monotonic()
    if cancel is not None and cancel.cancelled:  # superseded while it waited for the model
        return Generation("", "cancelled")
    if request.deadline is not None and started >= request.deadline:  # its time ran out in the queue
        return Generation("", "deadline")
    text = ""
    tokens = 0
    finish = "length"
    stream = backend.stream(request)
    try:
        for piece in stream:
            if piece:  # else a checkpoint in the prompt's evaluation
                text += piece
                tokens += 1
                cut = _first_stop(text, request.stop)
                lines_end = _line_limit(text, request.max_lines)
                if lines_end is not None and (cut is None or lines_end < cut):
                    cut = lines_end
                if cut is not None:
                    text = text[:cut]
                    finish = "stop"
                    break
                if request.settled is not None and request.settled(text):
                    finish = "stop"
                    break
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
                break
            if request.deadline is not None and time.monotonic() >= request.deadline:
                finish = "deadline"
                break
        else:
            finish = "stop" if tokens < request.max_new_tokens else "length"
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return Generation(text, finish, tokens, time.monotonic() - started)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def _line_limit(text: str, max_lines: int | None) -> int | None:
    """Where the `max_lines`-th newline is in `text` (the end of the last line allowed), or None."""
    if max_lines is None:
        return None
    at = -1
    for _ in range(max_lines):
        at = text.find("\n", at + 1)
        if at < 0:
            return None
    return at
