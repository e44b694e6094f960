"""The typing replay's server process: started as the installed package, whatever the repository holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.replay import Editor, Typist


def test_a_repository_package_named_assistant_is_not_what_the_bench_runs(tmp_path: Path) -> None:
    """The server runs in the repository's directory; `python -m assistant.cli` there would import the repository's
    own `assistant/` (this project's history has one) instead of the installed server."""
    root = tmp_path / "repo"
    (root / "assistant" / "cli").mkdir(parents=True)
    marker = tmp_path / "ran"
    (root / "assistant" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (root / "assistant" / "cli" / "__init__.py").write_text("")
    (root / "assistant" / "cli" / "__main__.py").write_text("")

    async def start() -> str:
        try:
            editor = await Editor.start(root, root / "no-model", {}, Typist())
        except RuntimeError as e:  # no model in this repository: the installed server says so
            return str(e)
        await editor.stop()
        return ""

    said = asyncio.run(asyncio.wait_for(start(), 120))
    assert "could not load the model" in said and "no-model" in said
    assert not marker.exists()


pytestmark = pytest.mark.slow
