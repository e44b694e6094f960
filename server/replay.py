"""Typing replay: a scripted user types held-out code into the real server over LSP, as an editor would send it.

What `assistant bench latency` runs (README, `assistant bench latency`). The typist types the middle of
an example character by character (`keystroke_ms` apart), each keystroke a `didChange` and an
`inlineCompletion` request; a request still pending at the next keystroke is cancelled with
`$/cancelRequest`, as VS Code and Neovim do. Before each word it pauses and waits for the ghost text:
that wait is the time to ghost text. A ghost text that is exactly what it is about to type is accepted
(the edit, then the item's `repo-assistant.accept` command, then a new request at the new cursor, as
editors do after an accept); anything else it types through.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from server.documents import position_at

INLINE = types.TEXT_DOCUMENT_INLINE_COMPLETION


@dataclass(frozen=True)
class Typist:
    keystroke_ms: float = 60.0
    """Between two keystrokes of a word (about 150 words a minute)."""
    read_ms: float = 150.0
    """How long a ghost text is looked at before it is accepted or typed over."""
    wait_s: float = 10.0
    """Longest wait for an answer at a pause."""


@dataclass
class Tally:
    """What one server did for the typist."""

    pause_ms: list[float] = field(default_factory=list)
    """Time to an answer (the ghost text, or none) at each pause."""
    requests: int = 0
    cancelled: int = 0
    shown: int = 0
    shown_was_prefix: int = 0
    accepted_chars: int = 0
    typed_chars: int = 0


@dataclass(frozen=True)
class Text:
    path: str
    before: str
    middle: str
    after: str


class Editor:
    """One server process and the documents open in it."""

    def __init__(self, client: LanguageClient, root: Path, typist: Typist) -> None:
        self.client = client
        self.root = root
        self.typist = typist
        self.ids = itertools.count(1)
        self.stderr: list[str] = []
        self.ready = asyncio.Event()
        self.status: list[dict[str, Any]] = []
        self._drain: asyncio.Future[None] | None = None

    @classmethod
    async def start(cls, root: Path, model_dir: Path | None, options: dict[str, Any], typist: Typist,
                    telemetry_dir: Path | None = None, backend: str | None = None) -> Editor:
        client = LanguageClient("assistant-bench", "1")
        editor = cls(client, root, typist)

        @client.feature("$/assistant/status")
        def status(ls: LanguageClient, params: Any) -> None:
            state = getattr(params, "state", None)
            editor.status.append({"state": state, "message": getattr(params, "message", "")})
            if state in ("ready", "error"):
                editor.ready.set()

        # -P: the repository is the server's working directory, and a package of its own named `assistant` must
        # not be what runs (as it would be from `python -m` there).
        args = ["-P", "-m", "assistant.cli", "serve"] + (["--model-dir", str(model_dir)] if model_dir else [])
        args += ["--telemetry-dir", str(telemetry_dir)] if telemetry_dir else []
        args += ["--backend", backend] if backend else []
        await client.start_io(sys.executable, *args, cwd=str(root))
        editor._drain = asyncio.ensure_future(editor._read_stderr())
        await client.initialize_async(types.InitializeParams(
            process_id=os.getpid(), root_uri=root.as_uri(), capabilities=types.ClientCapabilities(),
            initialization_options={"server": options}))
        client.initialized(types.InitializedParams())
        await asyncio.wait_for(editor.ready.wait(), 300)
        if editor.status[-1]["state"] == "error":
            raise RuntimeError(f"the server could not load the model: {editor.status[-1]['message']}")
        return editor

    async def _read_stderr(self) -> None:
        """Keep the server's log flowing (a full pipe would stall it) and its tail for error reports."""
        stream = self.client._server.stderr if self.client._server else None
        while stream is not None and (line := await stream.readline()):
            self.stderr = [*self.stderr[-40:], line.decode(errors="replace")]

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        await self.client.stop()
        if self._drain is not None:
            self._drain.cancel()

    def request(self, uri: str, text: str, offset: int) -> tuple[int, asyncio.Future[Any]]:
        line, character = position_at(text, offset)
        msg_id = next(self.ids)
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        future = asyncio.wrap_future(self.client.protocol.send_request(INLINE, params, msg_id=msg_id))
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a cancelled request's error is expected
        return msg_id, future

    def cancel(self, msg_id: int) -> None:
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def insert(self, uri: str, version: int, text: str, offset: int, new: str) -> None:
        line, character = position_at(text, offset)
        here = types.Position(line, character)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(here, here), text=new)]))

    async def type_text(self, sample: Text, tally: Tally) -> None:
        """Type `sample.middle` between its before and after, pausing before words, accepting exact ghosts."""
        uri = (self.root / sample.path).as_uri()
        middle, after = sample.middle, sample.after
        if middle.endswith("\n"):  # added lines: the user opens a new line first, then types them into it
            middle, after = middle[:-1], "\n" + after
        text, offset, version = sample.before + after, len(sample.before), 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="", version=version, text=text)))
        typed, pending, pause = 0, None, True
        while typed < len(middle):
            if pause:
                if pending is not None and not pending[1].done():
                    self.cancel(pending[0])
                tally.requests += 1
                msg_id, future = self.request(uri, text, offset)
                started = time.monotonic()
                ghost = await self._answer(msg_id, future, tally)
                tally.pause_ms.append((time.monotonic() - started) * 1000)
                pending, pause = None, False
                if ghost:
                    self.client.protocol.notify("textDocument/didShowCompletion", {"item": ghost})
                    tally.shown += 1
                    await asyncio.sleep(self.typist.read_ms / 1000)
                    insert = ghost["insertText"]
                    if middle.startswith(insert, typed):
                        tally.shown_was_prefix += 1
                        version += 1
                        self.insert(uri, version, text, offset, insert)
                        text, offset = text[:offset] + insert + text[offset:], offset + len(insert)
                        typed += len(insert)
                        tally.accepted_chars += len(insert)
                        await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
                            command=ghost["command"]["command"], arguments=ghost["command"]["arguments"]))
                        pause = True  # editors ask again right after an accept
                continue
            ch = middle[typed]
            if ch == "\n":  # Enter: editors indent the new line in the same keystroke
                rest = middle[typed + 1:]
                ch += rest[:len(rest) - len(rest.lstrip(" \t"))]
            version += 1
            self.insert(uri, version, text, offset, ch)
            text, offset, typed = text[:offset] + ch + text[offset:], offset + len(ch), typed + len(ch)
            tally.typed_chars += len(ch)
            if pending is not None and not pending[1].done():
                self.cancel(pending[0])  # the user typed on: the editor drops the old request
                tally.cancelled += 1
            pause = typed < len(middle) and _starts_word(middle, typed)
            if not pause:
                tally.requests += 1
                pending = self.request(uri, text, offset)
                await asyncio.sleep(self.typist.keystroke_ms / 1000)
        if pending is not None and not pending[1].done():
            self.cancel(pending[0])
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))

    async def _answer(self, msg_id: int, future: asyncio.Future[Any], tally: Tally) -> dict[str, Any] | None:
        """The first item of the answer as JSON (what a client would echo back), or None."""
        try:
            result = await asyncio.wait_for(asyncio.shield(future), self.typist.wait_s)
        except asyncio.TimeoutError:
            self.cancel(msg_id)
            tally.cancelled += 1
            return None
        except Exception:
            return None
        items = getattr(result, "items", None) or []
        if not items:
            return None
        item = self.client.protocol._converter.unstructure(items[0])
        return item if isinstance(item, dict) and isinstance(item.get("insertText"), str) else None


def pause_points(middle: str) -> list[int]:
    """Where in `middle` the typist pauses for ghost text when it types all of it: its start and each word start."""
    return [0] + [i for i in range(1, len(middle)) if _starts_word(middle, i)]


def _starts_word(middle: str, i: int) -> bool:
    """A pause comes before a word: the next character starts an identifier after something that does not."""
    def word(ch: str) -> bool:
        return ch.isalnum() or ch == "_"

    return word(middle[i]) and not word(middle[i - 1])
