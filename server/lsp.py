"""The language server: LSP handlers that translate protocol to pipeline calls and back, nothing more.

Run it with `assistant serve` (stdio) or `assistant serve --tcp 127.0.0.1:2087`. It answers
`textDocument/inlineCompletion` (LSP 3.18 ghost text) and, for older clients, `textDocument/completion`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from assistant import __version__
from server.context import CompletionRequest
from server.pipeline import Completion
from server.session import Session

log = logging.getLogger("assistant.server")
STATUS = "$/assistant/status"


class AssistantServer(LanguageServer):
    def __init__(self, overrides: dict[str, Any]) -> None:
        super().__init__("repo-assistant", __version__)
        self.session = Session(overrides)
        self._load_task: asyncio.Task[None] | None = None

    def status(self, state: str, message: str = "") -> None:
        """`$/assistant/status`: loading, ready, generating or error, for the editor plugins' status line."""
        self.protocol.notify(STATUS, {"state": state, "model": self.session.model_name, "message": message})


def create_server(overrides: dict[str, Any] | None = None) -> AssistantServer:
    server = AssistantServer(overrides or {})

    @server.feature(types.INITIALIZED)
    async def initialized(ls: AssistantServer, params: types.InitializedParams) -> None:
        ls.session.configure(workspace_root(ls))
        ls._load_task = asyncio.ensure_future(load_with_progress(ls))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: AssistantServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        completion = await complete_at(ls, params.text_document.uri, params.position)
        if completion is None or not completion.text:
            return types.InlineCompletionList(items=[])
        here = types.Range(start=params.position, end=params.position)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=completion.text, range=here)])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: AssistantServer, params: types.CompletionParams) -> types.CompletionList:
        result = await complete_at(ls, params.text_document.uri, params.position)
        if result is None or not result.text:
            return types.CompletionList(is_incomplete=True, items=[])
        here = types.Range(start=params.position, end=params.position)
        item = types.CompletionItem(
            label=result.text.split("\n", 1)[0].strip() or result.text.strip(),
            kind=types.CompletionItemKind.Text,
            detail="repo-assistant",
            text_edit=types.TextEdit(range=here, new_text=result.text),
            sort_text="0",
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: AssistantServer, params: None) -> None:
        ls.session.close()

    return server


async def complete_at(ls: AssistantServer, uri: str, position: types.Position) -> Completion | None:
    """Translate a document and an LSP position into a pipeline request and run it."""
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        return None  # not opened by the client: nothing we can complete
    source = document.source
    try:
        offset = document.offset_at_position(position)
    except (IndexError, ValueError):
        offset = len(source)
    request = CompletionRequest(text=source, offset=max(0, min(offset, len(source))),
                                path=relative_path(ls, uri), language_id=document.language_id or "")
    try:
        return await ls.session.complete(uri, request)
    except asyncio.CancelledError:
        raise
    except Exception:  # never let one request take the server down
        log.exception("completion failed")
        return None


async def load_with_progress(ls: AssistantServer) -> None:
    """Load the model off the event loop, reporting `window/workDoneProgress` and `$/assistant/status`."""
    token: str | None = None
    capabilities = ls.client_capabilities.window
    if capabilities is not None and capabilities.work_done_progress:
        token = f"assistant-load-{uuid.uuid4().hex[:8]}"
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="repo-assistant",
                                                                           message="loading model"))
        except Exception:
            token = None  # the client declined progress; loading goes on without it

    def report(message: str) -> None:
        ls.status("loading", message)
        if token is not None:
            ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))

    await ls.session.load(report)
    if token is not None:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(
            message="ready" if ls.session.completer else "failed"))
    if ls.session.error:
        ls.status("error", ls.session.error)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                       message=f"repo-assistant: {ls.session.error}"))
    else:
        ls.status("ready")


def workspace_root(ls: AssistantServer) -> Path | None:
    root = ls.workspace.root_path
    if not root and ls.workspace.folders:
        root = to_fs_path(next(iter(ls.workspace.folders.values())).uri)
    return Path(root) if root else None


def relative_path(ls: AssistantServer, uri: str) -> str:
    path = to_fs_path(uri) or uri
    root = ls.session.root
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).name
