"""The real server over stdio, driven as editors drive it (Neovim's and VS Code's client capabilities)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_lsp
from helpers import ASSISTANT, pattern_module, run_cli
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

CLIENTS = ["neovim", "visual-studio-code"]


def typing_state() -> tuple[str, types.Position]:
    """A new module being typed: the cursor sits at the start of a handler's body."""
    full = pattern_module(9)
    cut = full.index("def handle_9_4(request):\n") + len("def handle_9_4(request):\n    ")
    text = full[:cut] + "\n" + full[cut:]
    line = text[:cut].count("\n")
    return text, types.Position(line=line, character=4)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[*ASSISTANT, "serve"]), params=CLIENTS)
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    root: Path = request.getfixturevalue("tiny_workspace")
    params = types.InitializeParams(capabilities=client_capabilities(request.param), root_uri=root.as_uri(),
                                    workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")])
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_inline_completion_is_the_models_real_output(client: LanguageClient, tiny_workspace: Path) -> None:
    text, pos = typing_state()
    path = tiny_workspace / "pkg" / "typing_now.py"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    assert isinstance(result, types.InlineCompletionList)
    assert len(result.items) == 1
    ghost = result.items[0].insert_text
    assert isinstance(ghost, str) and ghost.strip()
    assert result.items[0].range == types.Range(start=pos, end=pos)

    # The terminal sees exactly what the editor sees.
    cli = run_cli("complete", str(path), "--line", str(pos.line + 1), "--col", str(pos.character + 1), "--json")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["completion"] == ghost

    # The textDocument/completion fallback offers the same text.
    fallback = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos))
    assert isinstance(fallback, types.CompletionList)
    assert fallback.items[0].text_edit is not None and fallback.items[0].text_edit.new_text == ghost


async def test_unknown_documents_and_bad_positions_get_empty_answers(client: LanguageClient,
                                                                     tiny_workspace: Path) -> None:
    missing = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=(tiny_workspace / "nope.py").as_uri()),
        position=types.Position(line=0, character=0),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert missing is not None and not missing.items
    uri = (tiny_workspace / "short.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text="x = 1\n")))
    past_end = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=40, character=99),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert isinstance(past_end, types.InlineCompletionList)
