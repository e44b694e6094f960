"""The language server: LSP handlers that translate protocol to session calls and back, nothing more.

Run it with `assistant serve` (stdio) or `assistant serve --tcp 127.0.0.1:2087`. It answers
`textDocument/inlineCompletion` (LSP 3.18 ghost text) and, for older clients, `textDocument/completion`.
Each item carries the command `repo-assistant.accept` (arguments `[{"id": ...}]`) that clients run when
the user accepts it; `textDocument/didShowCompletion` and `textDocument/didPartiallyAcceptCompletion`
(params `{"item": ..., "acceptedLength": ...}`) report what was shown. `$/assistant/status` tells the
editor plugins what the server is doing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from assistant import __version__
from server import lifecycle
from server.context import CompletionRequest
from server.documents import encoding_name, offset_at, other_documents, position_at
from server.protocol import AssistantProtocol, field, item_id_of
from server.session import Session, Suggestion

log = logging.getLogger("assistant.server")
STATUS = "$/assistant/status"
ACCEPT_COMMAND = "repo-assistant.accept"
DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"


class AssistantServer(LanguageServer):
    def __init__(self, overrides: dict[str, Any]) -> None:
        super().__init__("repo-assistant", __version__, protocol_cls=AssistantProtocol)
        self.session = Session(overrides)
        self.session.on_status = lambda state, message: self.status(state, message)
        self.init_options: Any = None
        self.shut_down = False
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self, state: str, message: str = "") -> None:
        """`$/assistant/status`: loading, ready, generating or error, for the editor plugins' status line."""
        self.protocol.notify(STATUS, {"state": state, "model": self.session.model_name, "message": message,
                                      "eval": self.session.eval_summary})

    def background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # A client's malformed notification is the client's bug: log it, do not pop up a message about it.
        log.warning("ignored a bad message (%s): %s", getattr(source, "__name__", source), error)


def create_server(overrides: dict[str, Any] | None = None) -> AssistantServer:
    server = AssistantServer(overrides or {})

    @server.feature(types.INITIALIZE)
    def initialize(ls: AssistantServer, params: types.InitializeParams) -> None:
        ls.init_options = params.initialization_options

    @server.feature(types.INITIALIZED)
    async def initialized(ls: AssistantServer, params: types.InitializedParams) -> None:
        ls.session.configure(workspace_root(ls), ls.init_options)
        for warning in ls.session.warnings:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                           message=f"repo-assistant: {warning}"))
        if ls.process_id:
            ls.background(lifecycle.watch_parent(ls.process_id, ls.session.close))
        ls.background(load_with_progress(ls))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: AssistantServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        found = await complete_at(ls, params.text_document.uri, params.position)
        if found is None:
            return types.InlineCompletionList(items=[])
        suggestion, here = found
        return types.InlineCompletionList(items=[types.InlineCompletionItem(
            insert_text=suggestion.text, range=types.Range(start=here, end=here), command=accept_command(suggestion))])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: AssistantServer, params: types.CompletionParams) -> types.CompletionList:
        found = await complete_at(ls, params.text_document.uri, params.position)
        if found is None:
            return types.CompletionList(is_incomplete=True, items=[])
        suggestion, here = found
        item = types.CompletionItem(
            label=suggestion.text.split("\n", 1)[0].strip() or suggestion.text.strip(),
            kind=types.CompletionItemKind.Text,
            detail="repo-assistant",
            text_edit=types.TextEdit(range=types.Range(start=here, end=here), new_text=suggestion.text),
            sort_text="0",
            command=accept_command(suggestion),
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.command(ACCEPT_COMMAND)
    def accept(ls: AssistantServer, *arguments: Any) -> None:
        item_id = arguments[0].get("id") if arguments and isinstance(arguments[0], dict) else None
        if isinstance(item_id, str):
            ls.session.accepted(item_id)
        else:
            log.info("%s with arguments %r: ignored", ACCEPT_COMMAND, arguments)

    @server.feature(DID_SHOW)
    def did_show(ls: AssistantServer, params: Any) -> None:
        item_id = item_id_of(params)
        if item_id is not None:
            ls.session.shown(item_id)

    @server.feature(DID_PARTIALLY_ACCEPT)
    def did_partially_accept(ls: AssistantServer, params: Any) -> None:
        item_id = item_id_of(params)
        length = field(params, "acceptedLength")
        if item_id is not None and isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            ls.session.partially_accepted(item_id, length)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AssistantServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.session.touch(unquote(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AssistantServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.session.touch(unquote(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AssistantServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.session.forget(unquote(params.text_document.uri))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: AssistantServer, params: None) -> None:
        ls.shut_down = True
        ls.session.close()

    @server.feature(types.EXIT)
    def exit_(ls: AssistantServer, params: None) -> None:
        lifecycle.exit_soon(ls.session.close, 0 if ls.shut_down else 1)

    return server


def accept_command(suggestion: Suggestion) -> types.Command:
    return types.Command(title="repo-assistant: accepted", command=ACCEPT_COMMAND,
                         arguments=[{"id": suggestion.id}])


async def complete_at(ls: AssistantServer, uri: str,
                      position: types.Position) -> tuple[Suggestion, types.Position] | None:
    """Translate a document and an LSP position into a session request; the suggestion and where it goes."""
    key = unquote(uri)
    document = ls.workspace.text_documents.get(key)
    if document is None:
        return None  # not opened by the client: nothing we can complete
    source = document.source
    encoding = encoding_name(ls.workspace.position_encoding)
    offset = offset_at(source, position.line, position.character, encoding)
    others = ((u, relative_path(ls, u), d.source) for u in ls.session.recent()
              if (d := ls.workspace.text_documents.get(u)) is not None)
    request = CompletionRequest(text=source, offset=offset, path=relative_path(ls, key),
                                language_id=document.language_id or "", open_documents=other_documents(key, others))
    try:
        suggestion = await ls.session.complete(key, request)
    except asyncio.CancelledError:
        raise
    except Exception:  # never let one request take the server down
        log.exception("completion failed")
        return None
    if suggestion is None:
        return None
    line, character = position_at(source, offset, encoding)
    return suggestion, types.Position(line=line, character=character)


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
        except (ValueError, OSError):
            pass
    return Path(path).name
