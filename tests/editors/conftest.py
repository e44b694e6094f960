"""Fixtures for the Neovim plugin's tests: one parameter per Neovim binary, editors, the server's answers.

Every test that takes `nvim_binary` (or the module-scoped `editor`) runs once per Neovim package of the dev
extra; a package that is missing makes its tests fail, not skip.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

sys.path.insert(0, str(Path(__file__).parent))  # for `import nvim_harness` in the test modules

from nvim_harness import PACKAGES, Editor, NvimBinary, cli_setup, find_binary, start_editor


def binary_params() -> list[Any]:
    """One parameter per Neovim package; a missing one is an error message, so its tests fail (not skip)."""
    params = []
    for package in PACKAGES:
        try:
            binary = find_binary(package)
        except RuntimeError as e:
            params.append(pytest.param(str(e), id=package))
            continue
        params.append(pytest.param(binary, id=f"nvim-{binary.version}"))
    return params


BINARIES = binary_params()


def resolve(param: NvimBinary | str) -> NvimBinary:
    if isinstance(param, str):
        pytest.fail(param)
    return param


@pytest.fixture(params=BINARIES)
def nvim_binary(request: pytest.FixtureRequest) -> NvimBinary:
    return resolve(request.param)


@pytest.fixture
def make_editor(tmp_path: Path) -> Iterator[Callable[..., Editor]]:
    """Start editors for one test; all are closed after it."""
    editors: list[Editor] = []

    def make(binary: NvimBinary, cwd: Path, setup: dict[str, Any], prelude: str = "") -> Editor:
        editor = start_editor(binary, tmp_path / f"home{len(editors)}", cwd, setup, prelude)
        editors.append(editor)
        return editor

    yield make
    for editor in editors:
        editor.close()


@pytest.fixture(scope="session")
def server_answer(tiny_workspace: Path):
    """What the server must suggest for a text and position: `assistant complete --json`, asked once each."""
    answers: dict[tuple[str, str, int, int], str] = {}

    def answer(rel_path: str, lines: list[str], row: int, col: int) -> str:
        text = "\n".join(lines) + "\n"
        key = (rel_path, text, row, col)
        if key not in answers:
            path = tiny_workspace / rel_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            chars = len(lines[row].encode()[:col].decode())
            proc = run_cli("complete", str(path), "--line", str(row + 1), "--col", str(chars + 1), "--json")
            assert proc.returncode == 0, proc.stderr[-2000:]
            answers[key] = json.loads(proc.stdout)["completion"]
        return answers[key]

    return answer


@pytest.fixture(scope="module", params=BINARIES)
def editor(request: pytest.FixtureRequest, tiny_workspace: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    """A Neovim in the tiny model's workspace with the plugin set up as a user would, kept for the module."""
    ed = start_editor(resolve(request.param), tmp_path_factory.mktemp("nvim"), tiny_workspace, cli_setup())
    yield ed
    ed.close()
