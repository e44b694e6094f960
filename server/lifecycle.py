"""Ending the server: when the client says `exit`, and when the editor that started it is gone.

An editor passes its process id in `initialize`; if that process dies without a clean `shutdown`/`exit`
(a crash, `kill -9`), its stdin pipe may stay open in some other process and the server would live on,
holding a model in memory. `watch_parent` polls the process and ends the server once it is gone.
Both ways out first stop model work and flush telemetry (`on_exit`), then leave the process, without
waiting for a thread blocked on reading stdin.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("assistant.server")

PARENT_POLL_S = 1.0
"""How often the parent editor's process is checked."""

EXIT_GRACE_S = 0.5
"""After `exit`, how long pygls gets to close its streams before the process leaves regardless (its stdin
reader thread may be blocked until the client closes the pipe)."""


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    except OSError:
        return False
    return True


async def watch_parent(pid: int, on_exit: Callable[[], None], poll_s: float = PARENT_POLL_S) -> None:
    """End the server when process `pid` (the editor) is gone."""
    while process_alive(pid):
        await asyncio.sleep(poll_s)
    log.info("the editor (process %d) is gone: shutting down", pid)
    on_exit()
    os._exit(0)


def exit_soon(on_exit: Callable[[], None], code: int, grace_s: float = EXIT_GRACE_S) -> None:
    """Stop work now and make sure the process ends within `grace_s`, even with a thread stuck on stdin."""
    on_exit()

    def leave() -> None:
        os._exit(code)

    timer = threading.Timer(grace_s, leave)
    timer.daemon = True
    timer.start()
