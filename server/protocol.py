"""The JSON-RPC layer under the handlers: every request gets an answer, and feedback params are read safely.

pygls logs a request whose params do not match the LSP types (a string where a position belongs, a
negative line) and drops it: the client would wait for that answer forever. `AssistantProtocol` answers
it with an InvalidParams error instead. Completion feedback notifications are not LSP types at all;
`item_id_of` digs the suggestion id out of whatever a client sent, or gives None.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger("assistant.server")


@attrs.define
class Answered:
    """A request already answered with an error while it was parsed: nothing more to do with it."""

    id: Any
    jsonrpc: str = "2.0"


class AssistantProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            msg_id = data.get("id")
            if "method" not in data or isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
                raise  # a notification (no one to answer) or an id that cannot be answered
            log.warning("%s request %r has invalid params: answered with an error", data.get("method"), msg_id)
            self._send_response(msg_id, error=e.to_response_error())
            return Answered(msg_id)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Answered):
            return
        super().handle_message(message)


def field(obj: Any, name: str) -> Any:
    """`obj[name]` or `obj.name`, whichever the message layer produced; None when absent."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def item_id_of(params: Any) -> str | None:
    """The suggestion id in `{"item": {"command": {"arguments": [{"id": ...}]}}}`, or None if it is not there."""
    command = field(field(params, "item"), "command")
    arguments = field(command, "arguments")
    if not isinstance(arguments, (list, tuple)) or not arguments:
        log.info("feedback without a suggestion id: ignored")
        return None
    item_id = field(arguments[0], "id")
    return item_id if isinstance(item_id, str) else None
