"""Feedback on suggestions, kept as local telemetry: each model call and suggestion served, then whether the
editor showed it and the user accepted all of it, part of it, or nothing.

Every suggestion served is remembered under its id (bounded: `telemetry.ItemLog`), so that the editor's later
notifications (didShowCompletion, didPartiallyAcceptCompletion, the accept command) are recorded with its
language, model and length. An id it no longer knows (or never did) is logged and ignored.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from server.backends.base import Backend
from server.documents import chars_in_units
from server.pipeline import Completion
from server.telemetry import Item, ItemLog, Telemetry

log = logging.getLogger("assistant.server")


class Feedback:
    """The suggestions served, by id, and the telemetry their events go to."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.items = ItemLog()
        self.telemetry = telemetry

    def generated(self, completion: Completion, backend: Backend, prefetch: bool) -> None:
        """A model call ended (on the model thread). What the engine saved is null where it cannot save it,
        so that 0 means it could and did not."""
        gen, can, counts = completion.generation, backend.capabilities, backend.last_counts()
        self.telemetry.record("generation", language=completion.context.fim.language, model=backend.name,
                              tokens=gen.tokens, seconds=round(gen.seconds, 4), finish=gen.finish, prefetch=prefetch,
                              reused_tokens=counts.reused_tokens if can.kv_reuse else None,
                              drafted_tokens=counts.drafted_tokens if can.drafting else None,
                              accepted_draft_tokens=counts.accepted_draft_tokens if can.drafting else None)

    def served(self, item_id: str, item: Item, source: str, latency_ms: float, language_id: str) -> None:
        """Suggestion `item_id` went to the editor. Its language is the completion's, else the one it was first
        served with (typed through), else the editor's `language_id`."""
        known = self.items.get(item_id)
        item = replace(item, language=item.language or (known.language if known else "") or language_id)
        self.items.put(item_id, item)
        self.telemetry.record("served", id=item_id, language=item.language, model=item.model, source=source,
                              chars=len(item.text), latency_ms=latency_ms)

    def shown(self, item_id: str) -> None:
        """The editor displayed suggestion `item_id` (textDocument/didShowCompletion)."""
        self._record("shown", item_id, None)

    def partially_accepted(self, item_id: str, utf16_units: int) -> None:
        """The user accepted the beginning of suggestion `item_id`, `utf16_units` long (as LSP counts)."""
        item = self.items.get(item_id)
        self._record("partial", item_id, chars_in_units(item.text, utf16_units) if item is not None else 0)

    def accepted(self, item_id: str) -> Item | None:
        """The user accepted all of suggestion `item_id`; returns it (None: an unknown id)."""
        return self._record("accepted", item_id, None)

    def close(self) -> None:
        self.telemetry.close()

    def _record(self, event: str, item_id: str, chars: int | None) -> Item | None:
        item = self.items.get(item_id)
        if item is None:
            log.info("%s for an unknown suggestion id %r: ignored", event, item_id)
            return None
        self.telemetry.record(event, id=item_id, language=item.language, model=item.model,
                              chars=len(item.text) if chars is None else chars)
        return item
