"""The transformers backend on a real tiny model: KV reuse and speculative decoding change nothing but the work.

Each keystroke's prompt shares its start with the last one; the backend keeps the last prompt's KV cache,
crops it to the common token prefix and runs only the rest. Draft tokens are checked in one pass and the
ones the model disagrees with are cut from the cache. The completions must be token for token those of a
fresh run, whatever the edit (typing on, deleting, a change above the cursor) and whatever the drafts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import pattern_module

from assistant.config import ServerConfig
from assistant.models import load_model_dir
from server.backends.base import CancelToken, GenerationRequest, generate
from server.backends.transformers_backend import TransformersBackend
from server.context import CompletionRequest
from server.drafts import Drafts
from server.pipeline import Completer

HEADER = "<file_sep>pkg/handlers_3.py\n<fim_prefix>"


@pytest.fixture
def backend(tiny_workspace: Path, loaded_backend: TransformersBackend) -> TransformersBackend:
    """The module's backend, with KV reuse on and no drafts (each test turns on what it checks)."""
    loaded_backend.set_prompt_cache(True)
    loaded_backend.set_drafting(0)
    return loaded_backend


@pytest.fixture(scope="module")
def loaded_backend(tiny_workspace: Path) -> TransformersBackend:
    return TransformersBackend(load_model_dir(tiny_workspace / ".assistant" / "model"))


def prompts(tiny_workspace: Path) -> list[str]:
    """The prompts of a user typing, deleting, and then editing at the top of the prompt's window."""
    text = (tiny_workspace / "pkg" / "handlers_3.py").read_text(encoding="utf-8")
    cut = text.index("def handle_3_5(request):\n") + len("def handle_3_5(request):\n    ")
    states = [(text[:cut + k], text[cut + k:]) for k in range(0, 12, 3)]  # typing on
    states.append((text[:cut + 4], text[cut + 4:]))  # deleting back
    out = [f"{HEADER}{before[-900:]}<fim_suffix>{after[:300]}<fim_middle>" for before, after in states]
    return [*out, out[-1].replace(HEADER, HEADER + "# an edit at the top of the window\n")]


def run(backend: TransformersBackend, prompt: str) -> tuple[str, int]:
    gen = generate(backend, GenerationRequest(prompt, 16, stop=backend.profile.stop))
    return gen.text, backend.reused_tokens


def test_kv_reuse_gives_the_same_completions_for_less_work(backend: TransformersBackend, tiny_workspace: Path) -> None:
    backend.set_prompt_cache(False)
    fresh = [run(backend, p) for p in prompts(tiny_workspace)]
    assert all(reused == 0 for _, reused in fresh)
    backend.set_prompt_cache(True)
    reused = [run(backend, p) for p in prompts(tiny_workspace)]
    assert [text for text, _ in reused] == [text for text, _ in fresh]
    counts = [n for _, n in reused]
    lengths = [len(backend.encode(p)) for p in prompts(tiny_workspace)]
    assert counts[0] == 0  # nothing kept yet
    assert all(n > length // 2 for n, length in zip(counts[1:5], lengths[1:5], strict=True))  # typing and deleting
    assert counts[5] <= len(backend.encode(HEADER))  # an edit at the top: only the file header in common


def test_a_cancelled_generation_stops_between_two_tokens(backend: TransformersBackend, tiny_workspace: Path) -> None:
    token = CancelToken()
    pieces = 0
    stream = backend.stream

    def counting(request: GenerationRequest):  # cancel from "another thread" after the third token
        nonlocal pieces
        for piece in stream(request):
            pieces += 1
            if pieces == 3:
                token.cancel()
            yield piece

    backend.stream = counting  # type: ignore[method-assign]
    try:
        gen = generate(backend, GenerationRequest(prompts(tiny_workspace)[0], 40, stop=()), token)
    finally:
        del backend.stream
    assert gen.finish == "cancelled" and gen.tokens == 3 and pieces == 3
    # The kept cache is still consistent: the next completion matches a fresh one.
    backend.set_prompt_cache(True)
    after_cancel = run(backend, prompts(tiny_workspace)[1])[0]
    backend.set_prompt_cache(False)
    assert after_cancel == run(backend, prompts(tiny_workspace)[1])[0]


def test_prompts_stay_within_the_length_a_from_scratch_model_was_trained_on(backend: TransformersBackend,
                                                                            tiny_workspace: Path) -> None:
    assert backend.trained_context == 512  # `assistant train`'s default train.max_seq_len
    completer = Completer(backend, ServerConfig(context_tokens=1536, max_new_tokens=24))
    assert completer.cfg.context_tokens == 512 - 24 - 16  # room left for the completion, as in training
    text = "\n".join(pattern_module(i) for i in range(8))
    prepared = completer.prepare(CompletionRequest(text, len(text) // 2, "pkg/big.py", "python"))
    assert len(backend.encode(prepared.prompt)) + 24 <= 512
    assert Completer(backend, ServerConfig(context_tokens=200)).cfg.context_tokens == 200  # already within


class WrongLastToken(Drafts):
    """Drafts whose last token is always wrong (or a lone guess where there is no draft): every check rejects."""

    def propose(self, sequence: list[int], generated: int, limit: int) -> list[int]:
        draft = super().propose(sequence, generated, limit)
        return [*draft[:-1], draft[-1] + 1] if draft else [sequence[-1]] if limit > 0 else []


def test_speculative_decoding_gives_the_greedy_completions(backend: TransformersBackend, tiny_workspace: Path) -> None:
    plain = [run(backend, p)[0] for p in prompts(tiny_workspace)]
    backend.set_drafting(16)
    drafted, checked = [], []
    for prompt in prompts(tiny_workspace):
        drafted.append(run(backend, prompt)[0])
        checked.append((backend.drafted_tokens, backend.accepted_draft_tokens))
    assert drafted == plain
    assert sum(a for _, a in checked) > 0  # typing on: the last completion's rest was right
    assert all(a <= d for d, a in checked)


def test_rejected_drafts_leave_the_kept_cache_as_a_fresh_run_would(backend: TransformersBackend,
                                                                 tiny_workspace: Path) -> None:
    typing = prompts(tiny_workspace)[:5]
    plain = [run(backend, p)[0] for p in typing]
    backend.drafts = WrongLastToken(8)
    wrong = []
    for prompt in typing:
        wrong.append(run(backend, prompt)[0])
        assert backend.accepted_draft_tokens < backend.drafted_tokens
        assert backend._past.get_seq_length() == len(backend._past_ids)  # the cache holds exactly the kept tokens
    assert wrong == plain
    backend.set_drafting(0)
    after_rejections = run(backend, typing[0])  # reuses the cache the rejected drafts were cut from
    backend.set_prompt_cache(False)
    assert after_rejections[1] > 0 and after_rejections[0] == run(backend, typing[0])[0]


def test_sampling_makes_no_drafts(backend: TransformersBackend, tiny_workspace: Path) -> None:
    backend.set_drafting(16)
    torch.manual_seed(0)
    tokens = 0
    for prompt in prompts(tiny_workspace):
        tokens += generate(backend, GenerationRequest(prompt, 12, temperature=0.8)).tokens
        assert backend.drafted_tokens == 0
    assert tokens > 0
