"""Context: what the model sees around the cursor, cut to the token budget at line boundaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.config import ServerConfig
from assistant.languages import language_from_lsp_id
from assistant.prompt import FimInput, trim_context


@dataclass(frozen=True)
class CompletionRequest:
    """A document and a cursor: `offset` indexes `text` in code points."""

    text: str
    offset: int
    path: str = ""
    language_id: str = ""


@dataclass(frozen=True)
class Context:
    fim: FimInput
    line_prefix: str
    """The cursor's line up to the cursor."""
    line_suffix: str
    """The cursor's line after the cursor."""


def build_context(req: CompletionRequest, count_tokens: Callable[[str], int], cfg: ServerConfig) -> Context:
    offset = max(0, min(req.offset, len(req.text)))
    before, after = req.text[:offset], req.text[offset:]
    prefix, suffix = trim_context(before, after, count_tokens, cfg.context_tokens, cfg.suffix_share)
    lang = language_from_lsp_id(req.language_id, req.path)
    fim = FimInput(prefix=prefix, suffix=suffix, path=req.path, language=lang.name if lang else "")
    return Context(fim=fim, line_prefix=before[before.rfind("\n") + 1:], line_suffix=after.split("\n", 1)[0])
