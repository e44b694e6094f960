"""The real server over stdio, driven as editors drive it (Neovim's and VS Code's client capabilities).

One server per client kind serves every test of this module, with the tiny model the `tiny_workspace`
fixture trained. Telemetry lands in the workspace's `.assistant/telemetry/`, where the tests read what
the server recorded (model calls, where each answer came from).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from helpers import ASSISTANT, pattern_module, run_cli
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from server.documents import encoding_name, position_at
from server.telemetry import read_events

CLIENTS = ["neovim", "visual-studio-code"]
ACCEPT = "repo-assistant.accept"
TERMINAL_CHECKED: list[bool] = []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[*ASSISTANT, "serve"]), params=CLIENTS, scope="module")
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    root: Path = request.getfixturevalue("tiny_workspace")
    statuses: list[Any] = []
    lsp_client.feature("$/assistant/status")(lambda params: statuses.append(params))
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(request.param), root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")]))
    lsp_client.statuses = statuses  # type: ignore[attr-defined]
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def encoding(client: LanguageClient) -> str:
    return encoding_name(client.init_result.capabilities.position_encoding)  # type: ignore[attr-defined]


def empty_body() -> tuple[str, int]:
    """A module being written: a handler whose body is still empty, the cursor at its indentation."""
    full = pattern_module(9)
    head = "def handle_9_4(request):\n"
    start = full.index(head) + len(head)
    end = full.index("@register('handle_9_5')")
    text = full[:start] + "    \n\n" + full[end:]
    return text, start + 4


class Doc:
    """An open document and the edits a user makes to it."""

    def __init__(self, client: LanguageClient, path: Path, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, path.as_uri(), text, 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=self.uri, language_id="python", version=1, text=text)))

    def position(self, offset: int) -> types.Position:
        return types.Position(*position_at(self.text, offset, encoding(self.client)))

    def insert(self, offset: int, new: str) -> None:
        here = self.position(offset)
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=new)]))
        self.text = self.text[:offset] + new + self.text[offset:]

    async def inline(self, offset: int) -> types.InlineCompletionList:
        result = await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri), position=self.position(offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        assert isinstance(result, types.InlineCompletionList)
        return result


def item_id(item: types.InlineCompletionItem) -> str:
    assert item.command is not None and item.command.command == ACCEPT
    assert item.command.title == "repo-assistant: accepted"
    (argument,) = item.command.arguments or []
    assert isinstance(argument, dict) and isinstance(argument["id"], str)
    return argument["id"]


def events(root: Path) -> list[dict[str, Any]]:
    return list(read_events(root / ".assistant" / "telemetry"))


async def test_inline_completion_is_the_models_real_output(client: LanguageClient, tiny_workspace: Path) -> None:
    text, cursor = empty_body()
    path = tiny_workspace / "pkg" / "typing_now.py"
    path.write_text(text, encoding="utf-8")
    doc = Doc(client, path, text)
    result = await doc.inline(cursor)
    assert len(result.items) == 1
    item = result.items[0]
    ghost = item.insert_text
    assert isinstance(ghost, str) and ghost.strip()
    assert item.range == types.Range(doc.position(cursor), doc.position(cursor))
    served = [e for e in events(tiny_workspace) if e["event"] == "served" and e["id"] == item_id(item)]
    assert served and served[0]["source"] == "model" and served[0]["language"] == "python"

    # The terminal sees exactly what the editor sees (checked with the first client: it starts a process).
    if not TERMINAL_CHECKED:
        line, col = position_at(text, cursor, "utf-32")
        cli = run_cli("complete", str(path), "--line", str(line + 1), "--col", str(col + 1), "--json")
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["completion"] == ghost
        TERMINAL_CHECKED.append(True)

    # The textDocument/completion fallback offers the same text, with the same accept command.
    fallback = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri), position=doc.position(cursor)))
    assert isinstance(fallback, types.CompletionList)
    assert fallback.items[0].text_edit is not None and fallback.items[0].text_edit.new_text == ghost
    assert fallback.items[0].command is not None and fallback.items[0].command.command == ACCEPT


async def test_accept_command_is_advertised_and_status_reports_the_model(client: LanguageClient) -> None:
    provider = client.init_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
    assert provider is not None and ACCEPT in provider.commands
    states = [s.state for s in client.statuses]  # type: ignore[attr-defined]
    assert "loading" in states and "ready" in states and "error" not in states
    assert "generating" in states  # the previous test made a model call
    ready = next(s for s in client.statuses if s.state == "ready")  # type: ignore[attr-defined]
    assert "tiny" in ready.model and ready.eval is None  # the fixture trained without --eval
    window = client.capabilities.window if client.capabilities else None
    if window is not None and window.work_done_progress:
        kinds = [getattr(report, "kind", None) for reports in client.progress_reports.values() for report in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end"


async def test_typing_through_then_accepting_needs_no_new_model_call(client: LanguageClient,
                                                                     tiny_workspace: Path) -> None:
    text, cursor = empty_body()
    doc = Doc(client, tiny_workspace / "pkg" / "through.py", text)
    prefetches = sum(e["event"] == "generation" and e["prefetch"] for e in events(tiny_workspace))
    first = (await doc.inline(cursor)).items[0]
    ghost = first.insert_text
    assert isinstance(ghost, str) and len(ghost) >= 3
    requests = sum(e["event"] == "generation" and not e["prefetch"] for e in events(tiny_workspace))

    doc.insert(cursor, ghost[:2])  # the user types the first two characters of the ghost text
    rest = (await doc.inline(cursor + 2)).items[0]
    assert rest.insert_text == ghost[2:] and item_id(rest) == item_id(first)
    client.protocol.notify("textDocument/didShowCompletion", {"item": client.protocol._converter.unstructure(rest)})

    doc.insert(cursor + 2, ghost[2:])  # Tab: the editor inserts the rest, then runs the item's command
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=ACCEPT, arguments=rest.command.arguments if rest.command else None))
    await doc.inline(cursor + len(ghost))  # editors ask again at once after an accept

    recorded = events(tiny_workspace)
    generations = [e for e in recorded if e["event"] == "generation"]
    assert sum(not e["prefetch"] for e in generations) == requests  # no request after the first ran the model
    assert sum(e["prefetch"] for e in generations) > prefetches  # the prefetch did, whenever it finished
    mine = [e for e in recorded if e.get("id") == item_id(first)]
    assert [e["source"] for e in mine if e["event"] == "served"] == ["model", "typed-through"]
    assert ("shown", len(ghost) - 2) in [(e["event"], e["chars"]) for e in mine]
    assert ("accepted", len(ghost) - 2) in [(e["event"], e["chars"]) for e in mine]
    served_after = [e for e in recorded if e["event"] == "served"][-1]
    assert served_after["id"] == item_id(first) or served_after["source"] == "prefetch"


async def test_partial_accept_counts_utf16_units_and_bad_feedback_is_ignored(client: LanguageClient,
                                                                             tiny_workspace: Path) -> None:
    text, cursor = empty_body()
    doc = Doc(client, tiny_workspace / "pkg" / "partial.py", text)
    item = (await doc.inline(cursor)).items[0]
    before = len(events(tiny_workspace))
    as_json = client.protocol._converter.unstructure(item)
    client.protocol.notify("textDocument/didPartiallyAcceptCompletion", {"item": as_json, "acceptedLength": 2})
    for bad in ({}, {"item": None}, {"item": {"command": {"arguments": "x"}}}, {"item": as_json, "acceptedLength": "2"},
                {"item": {"command": {"arguments": [{"id": "no-such-id"}]}}, "acceptedLength": 1}):
        client.protocol.notify("textDocument/didPartiallyAcceptCompletion", bad)
        client.protocol.notify("textDocument/didShowCompletion", bad)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command=ACCEPT, arguments=[{"id": 7}]))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command=ACCEPT,
                                                                            arguments=[{"id": "no-such-id"}]))
    again = await doc.inline(cursor)  # still serving
    assert again.items and again.items[0].insert_text == item.insert_text
    partial = [e for e in events(tiny_workspace)[before:] if e["event"] == "partial"]
    assert [(e["id"], e["chars"]) for e in partial] == [(item_id(item), 2)]


async def test_unknown_documents_and_bad_positions_get_answers(client: LanguageClient, tiny_workspace: Path) -> None:
    missing = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=(tiny_workspace / "nope.py").as_uri()),
        position=types.Position(line=0, character=0),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert missing is not None and not missing.items
    doc = Doc(client, tiny_workspace / "short.py", "def f(x):\n    ")
    past_end = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri), position=types.Position(line=40, character=99),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert isinstance(past_end, types.InlineCompletionList)
    for item in past_end.items:  # placed where the document really ends
        assert item.range == types.Range(doc.position(len(doc.text)), doc.position(len(doc.text)))


pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
