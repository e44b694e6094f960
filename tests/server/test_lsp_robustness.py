"""1,000 requests, valid and broken, against the real server over stdio: it answers each one and stays up.

The client here writes raw JSON-RPC frames (a typed LSP client cannot send a string where a position
belongs). The mix: valid inline and fallback completions, params of the wrong types, unknown documents,
positions past the end, UTF-16 offsets inside a surrogate pair, huge documents, unknown methods, frames
that are not JSON, and requests cancelled right after they are sent, interleaved with edits, opens and
closes. Every request must get exactly one answer (a result, or an error; for a cancelled one possibly
RequestCancelled), the server's memory must stay flat while megabytes of documents come and go, and it
must still complete code, then exit cleanly.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import pattern_module
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import client_capabilities

REQUESTS = 1000
HUGE_CHARS = 4_000_000
CANCELLED, INVALID_PARAMS, METHOD_NOT_FOUND = -32800, -32602, -32601


class RawClient:
    """JSON-RPC over the server's stdin/stdout, one frame at a time, nothing checked on the way out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.answers: dict[int, list[dict[str, Any]]] = {}
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.status: list[str] = []
        self.next_id = 0
        self.reader = asyncio.ensure_future(self._read())
        self.stderr = asyncio.ensure_future(self._drain())

    def frame(self, body: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send(self, message: dict[str, Any]) -> None:
        self.frame(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def request(self, method: str, params: Any) -> int:
        self.next_id += 1
        self.waiting[self.next_id] = asyncio.get_running_loop().create_future()
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    async def answer(self, msg_id: int, timeout: float = 120) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self.waiting[msg_id]), timeout)

    async def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            header = await out.readline()
            if not header:
                return
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
                while (await out.readline()).strip():
                    pass
                message = json.loads(await out.readexactly(length))
                if "method" in message and "id" in message:  # the server asks (progress): say yes
                    self.send({"id": message["id"], "result": None})
                elif "method" in message:
                    if message["method"] == "$/assistant/status":
                        self.status.append(message["params"]["state"])
                else:
                    self.answers.setdefault(message["id"], []).append(message)
                    waiting = self.waiting.get(message["id"])
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)

    async def _drain(self) -> None:
        assert self.proc.stderr is not None
        while await self.proc.stderr.readline():
            pass


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def position(line: Any, character: Any) -> dict[str, Any]:
    return {"line": line, "character": character}


def inline(uri: Any, pos: Any) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 2}}


async def test_a_thousand_requests_valid_broken_and_cancelled(tiny_workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "assistant.toml").write_text("[server]\nmax_new_tokens = 8\ntime_budget_ms = 1000\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "assistant.cli", "serve", "--model-dir", str(tiny_workspace / ".assistant" / "model"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
    client = RawClient(proc)
    caps = default_converter().unstructure(client_capabilities("visual-studio-code"))  # UTF-16 positions
    init = client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": caps})
    await client.answer(init)
    client.notify("initialized", {})
    while "ready" not in client.status:
        assert "error" not in client.status
        await asyncio.sleep(0.1)

    rng = random.Random(5)
    docs = {f"file://{tmp_path}/m{i}.py": pattern_module(i) for i in range(4)}
    docs[f"file://{tmp_path}/emoji.py"] = "s = '😀😀😀'\nt = 1\n"
    versions = dict.fromkeys(docs, 1)
    for uri, text in docs.items():
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                "text": text}})
    huge_text = "x = 1\n" * (HUGE_CHARS // 6)

    def valid() -> tuple[str, dict[str, Any]]:
        uri = rng.choice(list(docs))
        lines = docs[uri].split("\n")
        line = rng.randrange(len(lines))
        return rng.choice(["textDocument/inlineCompletion", "textDocument/completion"]), \
            inline(uri, position(line, rng.randrange(len(lines[line]) + 1)))

    coerced: list[tuple[str, Any]] = [  # wrong types the LSP converter turns into harmless values
        ("textDocument/inlineCompletion", inline(5, position(0, 0))),  # uri "5": a document never opened
        ("workspace/executeCommand", {"command": "repo-assistant.accept", "arguments": "not a list"}),
    ]
    broken: list[tuple[str, Any]] = [
        ("textDocument/inlineCompletion", inline("file:///m.py", position("one", 0))),
        ("textDocument/inlineCompletion", inline("file:///m.py", position(-1, 3))),
        ("textDocument/inlineCompletion", {"textDocument": {}, "position": position(0, 0)}),
        ("textDocument/inlineCompletion", [1, 2, 3]),
        ("textDocument/inlineCompletion", None),
        ("textDocument/completion", {"textDocument": {"uri": None}, "position": {}}),
        ("workspace/executeCommand", {"command": "no.such.command", "arguments": []}),
    ]
    odd: list[tuple[str, Any]] = [
        ("textDocument/inlineCompletion", inline(f"file://{tmp_path}/never_opened.py", position(0, 0))),
        ("textDocument/inlineCompletion", inline(next(iter(docs)), position(10**6, 10**6))),
        ("textDocument/inlineCompletion", inline(f"file://{tmp_path}/emoji.py", position(0, 6))),  # half a 😀
        ("textDocument/inlineCompletion", inline(f"file://{tmp_path}/emoji.py", position(0, 2**31 - 1))),
        ("$/assistant/noSuchMethod", {}),
    ]
    sent: dict[int, str] = {}
    requested: dict[int, str] = {}
    rss: list[float] = []
    for n in range(REQUESTS):
        roll = rng.random()
        if roll < 0.45:
            method, params = valid()
            kind = "valid"
        elif roll < 0.6:
            method, params = valid()
            kind = "cancelled"
        elif roll < 0.75:
            method, params = rng.choice(broken)
            kind = "broken"
        elif roll < 0.8:
            method, params = rng.choice(coerced)
            kind = "coerced"
        else:
            method, params = rng.choice(odd)
            kind = "unknown" if method.startswith("$/") else "odd"
        msg_id = client.request(method, params)
        sent[msg_id] = kind
        requested[msg_id] = json.dumps(params)
        if kind == "cancelled":
            client.notify("$/cancelRequest", {"id": msg_id})
        if n % 7 == 0:  # an edit somewhere: the user is typing
            uri = rng.choice(list(docs))
            lines = docs[uri].split("\n")
            line = rng.randrange(len(lines))
            col = rng.randrange(len(lines[line]) + 1)
            char = rng.choice(["a", " ", "(", "\n", "é"])
            versions[uri] += 1
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": versions[uri]},
                                                     "contentChanges": [{"range": {"start": position(line, col),
                                                                                   "end": position(line, col)},
                                                                         "text": char}]})
            lines[line] = lines[line][:col] + char + lines[line][col:]
            docs[uri] = "\n".join(lines)
        if n % 50 == 25:  # a huge document comes and goes, with a request in its middle
            uri = f"file://{tmp_path}/huge{n}.py"
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                    "text": huge_text}})
            sent[client.request("textDocument/inlineCompletion", inline(uri, position(HUGE_CHARS // 12, 2)))] = "valid"
            client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        if n % 50 == 49:
            client.frame(b"{this is not json")  # no id to answer: must just be survived
            client.notify("textDocument/didChange", {"textDocument": {"uri": 3}})  # a broken notification
            await asyncio.gather(*(client.answer(i) for i in sent))  # let the server catch up now and then
            rss.append(rss_mb(proc.pid))

    answers = [await client.answer(i) for i in sent]
    assert all(len(client.answers[i]) == 1 for i in sent), "a request was answered twice"
    codes: dict[str, set[Any]] = {}
    for msg_id, message in zip(sent, answers, strict=True):
        codes.setdefault(sent[msg_id], set()).add(message["error"]["code"] if "error" in message else "result")
    assert codes["valid"] == {"result"}
    assert codes["odd"] == {"result"}
    assert codes["cancelled"] <= {"result", CANCELLED}
    assert codes["broken"] == {INVALID_PARAMS}
    assert codes["coerced"] == {"result"}
    for msg_id, message in zip(sent, answers, strict=True):
        if sent[msg_id] == "coerced" or (sent[msg_id] == "odd" and "never_opened" in requested[msg_id]):
            assert message["result"] in (None, {"items": []}), message  # nothing to complete there
    assert codes["unknown"] == {METHOD_NOT_FOUND}
    # Flat memory: 20 documents of 4 MB (80 MB) came and went, and 1,000 requests were answered.
    assert max(rss[4:]) - min(rss[:4]) < 40, rss

    # Still completing code, then a clean exit.
    uri = f"file://{tmp_path}/m1.py"
    final = await client.answer(client.request("textDocument/inlineCompletion", inline(uri, position(5, 4))))
    assert "result" in final
    await client.answer(client.request("shutdown", None))
    client.notify("exit", None)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert types.TEXT_DOCUMENT_INLINE_COMPLETION == "textDocument/inlineCompletion"


pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
