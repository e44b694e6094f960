"""The llama-cpp backend on a real export of a tiny model trained by `assistant train`: same greedy completions
as the transformers backend, KV reuse of the previous prompt's prefix, streams that stop between tokens, and
one-line errors for missing or damaged files."""

from __future__ import annotations

import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest
from helpers import pattern_module

from assistant.config import ServerConfig, load_config
from assistant.errors import UserError
from assistant.modeldir import read_manifest, write_manifest
from assistant.prompt import FimInput, render_prompt
from server.backends import chosen_backend, load_backend
from server.backends.base import CancelToken, GenerationRequest, generate
from server.backends.llamacpp_backend import PROMPT_CHUNK, LlamaCppBackend, choose_gguf
from trainer.export.export import export


@pytest.fixture(scope="module")
def model_dir(tiny_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("llamacpp") / "ws"
    shutil.copytree(tiny_workspace, ws, symlinks=True)
    md = ws / ".assistant" / "model"
    export(md, load_config(ws, {"export.outtype": "f32", "export.quant": "q8_0"}))
    return md


def server_cfg(md: Path, **values: Any) -> ServerConfig:
    return load_config(md.parent.parent, {f"server.{k}": v for k, v in values.items()}).server


def fim_prompts(backend: Any, count: int = 4) -> list[str]:
    """Cursors at the start of handler bodies in a module being typed, as the editor would send them."""
    text = pattern_module(9)
    prompts = []
    for k in range(1, count + 1):
        cut = text.index(f"def handle_9_{k}(request):\n") + len(f"def handle_9_{k}(request):\n    ")
        prompts.append(render_prompt(backend.profile, FimInput(prefix=text[:cut], suffix=text[cut:],
                                                               path="pkg/typing_now.py", language="python")))
    return prompts


def test_greedy_completions_match_the_transformers_backend(model_dir: Path) -> None:
    cpp = load_backend(server_cfg(model_dir, backend="llama-cpp", gguf="f32"), model_dir)
    hf = load_backend(server_cfg(model_dir, backend="transformers"), model_dir)
    assert isinstance(cpp, LlamaCppBackend) and "(f32 gguf)" in cpp.name and cpp.profile == hf.profile
    # Prompts are kept within the length the tiny model was trained on, as for the transformers backend.
    assert cpp.trained_context == read_manifest(model_dir).training["config"]["train"]["max_seq_len"]
    for prompt in fim_prompts(cpp):
        request = GenerationRequest(prompt, max_new_tokens=24, stop=cpp.profile.stop)
        ours, theirs = generate(cpp, request), generate(hf, request)
        assert (ours.text, ours.tokens, ours.finish) == (theirs.text, theirs.tokens, theirs.finish)
    for text in ("def handle(request):\n    return None\n", "    value = request.get('x')  # é ✓", "<fim_prefix>"):
        assert cpp.count_tokens(text) == hf.count_tokens(text)


def test_left_to_right_prompts_are_healed_as_the_transformers_backend_heals_them(model_dir: Path) -> None:
    """A prompt that stops at the start of an indented line ends with a lone newline token: both engines take it
    back and let the model spell it again (`assistant.healing`), with the same greedy result."""
    cpp = load_backend(server_cfg(model_dir, backend="llama-cpp", gguf="f32", profile="left-to-right"), model_dir)
    hf = load_backend(server_cfg(model_dir, backend="transformers", profile="left-to-right"), model_dir)
    assert isinstance(cpp, LlamaCppBackend) and cpp.healer() is not None and hf.healer() is not None
    text = pattern_module(9)
    prompts = [text[:text.index(f"def handle_9_{k}(request):\n") + len(f"def handle_9_{k}(request):\n")]
               for k in range(1, 4)]
    healed = []
    for prompt in prompts:
        request = GenerationRequest(prompt, max_new_tokens=12)
        ours, theirs = generate(cpp, request), generate(hf, request)
        assert (ours.text, ours.finish) == (theirs.text, theirs.finish)
        healed.append(ours.text)
    hf._healer = None  # the same model unhealed answers differently: the comparison above saw healing at work
    assert healed != [generate(hf, GenerationRequest(p, max_new_tokens=12)).text for p in prompts]


def test_the_previous_prompts_prefix_is_reused(model_dir: Path) -> None:
    backend = load_backend(server_cfg(model_dir, backend="llama-cpp"), model_dir)
    assert isinstance(backend, LlamaCppBackend)
    backend.configure(kv_reuse=True, draft_tokens=0)  # as the pipeline configures it; drafts would add passes
    first = fim_prompts(backend, 4)[3]
    request = GenerationRequest(first, max_new_tokens=6, stop=backend.profile.stop)
    cold = generate(backend, request)
    # The user typed on: the same file, the cursor a few characters further. Everything before the cursor
    # (file header and prefix) is the same prompt prefix; the suffix after it must be evaluated again.
    typed = first.replace("<fim_suffix>", "val<fim_suffix>")
    before = backend.decoded_tokens  # how many tokens llama.cpp actually runs through the model
    warm = generate(backend, GenerationRequest(typed, max_new_tokens=6, stop=backend.profile.stop))
    prompt_len = len(backend.encode(typed))
    before_cursor = len(backend.encode(first[: first.index("<fim_suffix>")]))
    assert before_cursor - 2 <= backend.reused_tokens <= before_cursor
    # The prompt's new tokens, then one token per generated token but the last (picked, never fed back).
    assert backend.decoded_tokens - before == prompt_len - backend.reused_tokens + warm.tokens - 1

    backend.set_prompt_cache(False)  # server.kv_reuse = false: everything evaluated, same completions
    before = backend.decoded_tokens
    assert generate(backend, GenerationRequest(typed, max_new_tokens=6, stop=backend.profile.stop)).text == warm.text
    assert backend.decoded_tokens - before == prompt_len + warm.tokens - 1 and backend.reused_tokens == 0
    assert generate(backend, request).text == cold.text


def test_drafts_give_the_greedy_output_in_fewer_passes(model_dir: Path) -> None:
    """Speculative drafts from the last completion: a prompt asked again after the cache was dropped is answered
    with the same text, most of it from an accepted draft, and with fewer model passes."""
    cfg = server_cfg(model_dir, backend="llama-cpp")
    plain, drafting = load_backend(cfg, model_dir), load_backend(cfg, model_dir)
    plain.configure(kv_reuse=False, draft_tokens=0)
    drafting.configure(kv_reuse=False, draft_tokens=16)
    assert isinstance(drafting, LlamaCppBackend) and drafting.capabilities.drafting
    passes: list[int] = []
    real_decode = drafting._decode

    def counting_decode(tokens: list[int], keep: int) -> Any:
        passes.append(len(tokens))
        return real_decode(tokens, keep)

    drafting._decode = counting_decode  # type: ignore[method-assign]
    for prompt in fim_prompts(drafting, 4):
        request = GenerationRequest(prompt, max_new_tokens=20)
        expected = generate(plain, request)
        first = generate(drafting, request)
        passes.clear()
        again = generate(drafting, request)  # the same prompt again: its last completion is the draft
        assert first.text == again.text == expected.text and first.tokens == again.tokens == expected.tokens
        counts = drafting.last_counts()
        if again.tokens > 2:
            assert counts.accepted_draft_tokens >= again.tokens - 2 and len(passes) < again.tokens
        assert counts.accepted_draft_tokens <= counts.drafted_tokens


def test_streams_stop_between_tokens_and_free_the_model(model_dir: Path) -> None:
    backend = load_backend(server_cfg(model_dir, backend="llama-cpp"), model_dir)
    prompt = fim_prompts(backend, 1)[0]
    stream = cast(Generator[str, None, None], backend.stream(GenerationRequest(prompt, max_new_tokens=24)))
    pieces = [next(stream), next(stream)]
    stream.close()  # what `generate` does on a stop string, the deadline or cancellation
    full = generate(backend, GenerationRequest(prompt, max_new_tokens=24))  # the lock was released
    assert full.text.startswith("".join(pieces)) and full.tokens > 2

    cancel = CancelToken()
    cancel.cancel()
    assert generate(backend, GenerationRequest(prompt, max_new_tokens=24), cancel).finish == "cancelled"
    short = generate(backend, GenerationRequest(prompt, max_new_tokens=3))
    assert short.tokens <= 3 and full.text.startswith(short.text)


def test_a_long_prompt_is_evaluated_in_chunks_that_a_newer_request_can_stop_between(model_dir: Path) -> None:
    """A stale request does not hold the model for its whole prompt: its stream checkpoints (an empty piece) after
    every PROMPT_CHUNK tokens, `generate` stops there when cancelled, and what was evaluated stays in the KV cache
    for the next request to reuse."""
    backend = load_backend(server_cfg(model_dir, backend="llama-cpp"), model_dir)
    assert isinstance(backend, LlamaCppBackend)
    backend.configure(kv_reuse=True, draft_tokens=0)
    prompt = fim_prompts(backend, 4)[3]
    assert len(backend.encode(prompt)) > 2 * PROMPT_CHUNK
    expected = generate(backend, GenerationRequest(prompt, max_new_tokens=8))
    backend.set_prompt_cache(True)  # drops the cache
    cancel = CancelToken()
    stream = cast(Generator[str, None, None], backend.stream(GenerationRequest(prompt, max_new_tokens=8)))
    assert next(stream) == ""  # one chunk evaluated, nothing generated yet
    stream.close()
    assert backend.decoded_tokens and len(backend._held) == PROMPT_CHUNK

    class CancelAtCheckpoint:  # the request is superseded while its prompt is evaluated
        def __init__(self) -> None:
            self.calls = 0

        @property
        def cancelled(self) -> bool:
            self.calls += 1
            return self.calls > 1

    backend.set_prompt_cache(True)
    stopped = generate(backend, GenerationRequest(prompt, max_new_tokens=8), cast(CancelToken, CancelAtCheckpoint()))
    assert (stopped.finish, stopped.text, stopped.tokens) == ("cancelled", "", 0)
    assert len(backend._held) == PROMPT_CHUNK
    again = generate(backend, GenerationRequest(prompt, max_new_tokens=8), cancel)
    assert again.text == expected.text and backend.reused_tokens == PROMPT_CHUNK


def test_choosing_the_gguf_file(tmp_path: Path) -> None:
    entries = [{"file": "model-f16.gguf", "type": "f16"}, {"file": "model-q8_0.gguf", "type": "q8_0"},
               {"file": "model-q4_k_m.gguf", "type": "q4_k_m"}]
    assert choose_gguf(tmp_path, entries, "auto") == (tmp_path / "model-q8_0.gguf", None, "q8_0")
    assert choose_gguf(tmp_path, entries[:1] + entries[2:], "auto")[0] == tmp_path / "model-f16.gguf"
    assert choose_gguf(tmp_path, entries[2:], "auto")[0] == tmp_path / "model-q4_k_m.gguf"
    assert choose_gguf(tmp_path, entries, "q4_k_m")[0] == tmp_path / "model-q4_k_m.gguf"
    assert choose_gguf(tmp_path, entries, "model-q8_0.gguf")[2] == "q8_0"
    lora = [{"file": "adapter-f16.gguf", "type": "lora-f16", "base": "/models/base-f16.gguf"}]
    assert choose_gguf(tmp_path, lora, "auto") == (Path("/models/base-f16.gguf"), tmp_path / "adapter-f16.gguf",
                                                   "lora-f16")
    with pytest.raises(UserError, match=r"server.gguf = 'q5_0' is not among .*f16 \(model-f16.gguf\)"):
        choose_gguf(tmp_path, entries, "q5_0")
    with pytest.raises(UserError, match="has no GGUF export; run `assistant export"):
        choose_gguf(tmp_path, [], "auto")


def test_missing_and_damaged_files_are_one_line_errors(model_dir: Path, tmp_path: Path) -> None:
    md = tmp_path / "model"
    shutil.copytree(model_dir, md)
    manifest = read_manifest(md)
    f32 = md / manifest.gguf[0]["file"]
    f32.write_bytes(f32.read_bytes()[: f32.stat().st_size // 2])  # a copy cut short
    with pytest.raises(UserError, match=r"llama.cpp cannot load model-f32.gguf: .*; re-export") as err:
        load_backend(server_cfg(md, backend="llama-cpp", gguf="f32"), md)
    assert "\n" not in str(err.value)
    f32.unlink()
    with pytest.raises(UserError, match=r"model-f32\.gguf does not exist; run `assistant export`"):
        load_backend(server_cfg(md, backend="llama-cpp", gguf="f32"), md)
    with pytest.raises(UserError, match=r"server.gguf = 'q4_0' is not among"):
        load_backend(server_cfg(md, backend="llama-cpp", gguf="q4_0"), md)
    manifest.gguf = []
    write_manifest(md, manifest)
    with pytest.raises(UserError, match="has no GGUF export"):
        load_backend(server_cfg(md, backend="llama-cpp"), md)


def test_a_gguf_file_can_be_served_without_a_model_dir(model_dir: Path) -> None:
    path = model_dir / "model-q8_0.gguf"
    direct = load_backend(server_cfg(model_dir, backend="llama-cpp", base=str(path), profile="tiny"), None)
    via_dir = load_backend(server_cfg(model_dir, backend="llama-cpp", gguf="q8_0"), model_dir)
    prompt = fim_prompts(direct, 1)[0]
    assert generate(direct, GenerationRequest(prompt, 12)).text == generate(via_dir, GenerationRequest(prompt, 12)).text
    # Without a profile setting it is read off the file's vocabulary: a family with the same FIM template.
    detected = load_backend(server_cfg(model_dir, backend="llama-cpp", base=str(path)), None)
    assert detected.profile.template == direct.profile.template


def test_auto_serves_a_model_dir_with_a_gguf_export_with_llama_cpp(model_dir: Path, tmp_path: Path) -> None:
    auto = server_cfg(model_dir)
    assert auto.backend == "auto" and chosen_backend(auto, model_dir) == "llama-cpp"
    served = load_backend(auto, model_dir)
    assert isinstance(served, LlamaCppBackend) and served.name.endswith("(q8_0 gguf)")
    assert chosen_backend(server_cfg(model_dir, backend="transformers"), model_dir) == "transformers"
    unexported = tmp_path / "model"
    shutil.copytree(model_dir, unexported, ignore=shutil.ignore_patterns("*.gguf"))
    manifest = read_manifest(unexported)
    manifest.gguf = []
    write_manifest(unexported, manifest)
    assert chosen_backend(auto, unexported) == "transformers"
    assert chosen_backend(auto, tmp_path / "nothing-here") == "transformers"
    gguf_base = load_config(tmp_path, {"server.base": str(model_dir / "model-q8_0.gguf")}).server
    assert chosen_backend(gguf_base, None) == "llama-cpp"
