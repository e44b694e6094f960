"""The server ends when it should: after shutdown and exit, and when the editor that started it dies.

In both cases the client keeps the server's stdin open, as a crashed editor's orphaned pipe would: the
server must not wait for the end of its input to leave.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient


async def started(root: Path, parent_pid: int | None) -> LanguageClient:
    client = LanguageClient("lifecycle-test", "1")
    await client.start_io(sys.executable, "-m", "assistant.cli", "serve", cwd=str(root))
    await client.initialize_async(types.InitializeParams(process_id=parent_pid, root_uri=root.as_uri(),
                                                         capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    return client


async def exit_code(client: LanguageClient, timeout: float = 30) -> int:
    assert client._server is not None
    code = await asyncio.wait_for(client._server.wait(), timeout)
    await client.stop()
    return code


async def test_shutdown_then_exit_ends_the_process_cleanly(tmp_path: Path) -> None:
    client = await started(tmp_path, None)
    await client.shutdown_async(None)
    client.exit(None)
    assert await exit_code(client) == 0


async def test_the_server_leaves_when_its_editor_dies(tmp_path: Path) -> None:
    editor = await asyncio.create_subprocess_exec("sleep", "600")
    client = await started(tmp_path, editor.pid)
    await asyncio.sleep(1.5)
    assert client._server is not None and client._server.returncode is None  # the editor lives: so does it
    editor.kill()
    await editor.wait()
    assert await exit_code(client) == 0


pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
