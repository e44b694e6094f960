"""End to end over LSP: a tiny model trained by `assistant train`, exported by `assistant export`, served by
`assistant serve --backend llama-cpp` shows an editor exactly the ghost text the transformers backend shows.

Each server is the real CLI over stdio, driven with an editor's client capabilities (pytest-lsp).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from helpers import ASSISTANT, pattern_module, run_cli
from lsprotocol import types
from pygls.uris import to_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from assistant.modeldir import read_manifest

STATUS = "$/assistant/status"


@pytest.fixture(scope="module")
def exported_workspace(tiny_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("lsp-llamacpp") / "ws"
    shutil.copytree(tiny_workspace, ws, symlinks=True)
    # f32: the same arithmetic as the transformers backend, so the comparison below can demand equality.
    proc = run_cli("export", "--repo", str(ws), "--outtype", "f32", "--quant", "none")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [f["type"] for f in read_manifest(ws / ".assistant" / "model").gguf] == ["f32"]
    return ws


def documents(ws: Path) -> list[tuple[str, str, types.Position]]:
    """New modules being typed, each with the cursor at the start of a handler's body."""
    full = pattern_module(9)
    docs = []
    for k in (1, 4, 7, 10):
        header = f"def handle_9_{k}(request):\n"
        cut = full.index(header) + len(header) + 4
        text = full[:cut] + "\n" + full[cut:]
        path = ws / "pkg" / f"typing_{k}.py"
        path.write_text(text, encoding="utf-8")
        docs.append((path.as_uri(), text, types.Position(line=text[:cut].count("\n"), character=4)))
    return docs


async def ghost_texts(ws: Path, backend: str, client_kind: str) -> tuple[list[str], list[Any]]:
    """Start `assistant serve --backend BACKEND`, ask for the inline completion in every document, shut down."""
    client = cast(LanguageClient,
                  await ClientServerConfig(server_command=[*ASSISTANT, "serve", "--backend", backend]).start())
    statuses: list[Any] = []
    client.feature(STATUS)(lambda params: statuses.append(params))
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(client_kind), root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")]))
    texts = []
    try:
        for uri, text, pos in documents(ws):
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
            result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
            assert isinstance(result, types.InlineCompletionList)
            texts.append(str(result.items[0].insert_text) if result.items else "")
    finally:
        await client.shutdown_session()
    return texts, statuses


@pytest.mark.slow
async def test_llama_cpp_server_shows_what_the_transformers_server_shows(exported_workspace: Path) -> None:
    reference, _ = await ghost_texts(exported_workspace, "transformers", "neovim")
    for client_kind in ("neovim", "visual-studio-code"):
        served, statuses = await ghost_texts(exported_workspace, "llama-cpp", client_kind)
        for i, (ours, theirs) in enumerate(zip(served, reference, strict=True)):
            if ours != theirs:  # allowed only where greedy decoding met a tie that float rounding breaks
                assert near_tie(exported_workspace, i, agreed_part(ours, theirs)), (i, ours, theirs)
        ready = [s for s in statuses if _get(s, "state") == "ready"]
        assert ready and "(f32 gguf)" in _get(ready[-1], "model")
    assert sum(bool(t.strip()) for t in reference) >= 2  # real completions, not a comparison of empty answers


def agreed_part(a: str, b: str) -> str:
    """What two texts share at their start, back to a word boundary (where the token they part on starts)."""
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return re.sub(r"\s*\w*$", "", a[:n])


def near_tie(ws: Path, index: int, agreed: str, gap: float = 1e-3) -> bool:
    """Whether the transformers model's two best next tokens after `agreed` (the ghost text both servers wrote
    before they parted) in document `index` are within `gap` logits: a tie that llama.cpp's different (and
    equally right) float rounding may break the other way."""
    import dataclasses

    import torch

    from assistant.config import load_config
    from server.backends import load_backend
    from server.context import CompletionRequest
    from server.documents import offset_at
    from server.pipeline import Completer

    cfg = dataclasses.replace(load_config(ws, {}).server, result_cache=False)
    completer = Completer(load_backend(cfg, ws / ".assistant" / "model"), cfg)
    docs = [(Path(to_fs_path(uri) or uri).relative_to(ws).as_posix(), text, pos) for uri, text, pos in documents(ws)]
    path, text, pos = docs[index]
    offset = offset_at(text, pos.line, pos.character)
    opened = tuple((p, t) for p, t, _ in reversed(docs[:index]))  # open before it, most recent first
    prompt = completer.prepare(CompletionRequest(text, offset, path, "python", opened)).prompt
    backend = completer.backend
    ids = backend.encode(prompt + agreed)
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([ids])).logits[0, -1]
    best, second = torch.topk(logits, 2).values.tolist()
    return best - second < gap


def _get(params: Any, key: str) -> Any:
    return params[key] if isinstance(params, dict) else getattr(params, key)
