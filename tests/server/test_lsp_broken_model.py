"""A workspace whose model dir is broken: the server says so once and keeps answering (empty)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from helpers import ASSISTANT
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[*ASSISTANT, "serve"]))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    model = tmp_path / ".assistant" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{ this is not json")
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=tmp_path.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def test_broken_model_dir_shows_a_message_and_serves_empty_results(client: LanguageClient,
                                                                         tmp_path: Path) -> None:
    uri = (tmp_path / "a.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text="def f():\n    ")))
    for _ in range(2):
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=1, character=4),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        assert result is not None and not result.items
    if not client.messages:
        await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)
    assert any("corrupt" in m.message and "assistant train" in m.message for m in client.messages)


pytestmark = pytest.mark.slow
