-- What the tests read from Neovim in one RPC call, so that text, cursor and ghost text are seen together.
-- The ghost text is read from the extmarks themselves (the plugin's namespace, or Neovim's native inline
-- completion's), not from the plugin's state.

local api = vim.api

-- Chunks that are notes about the ghost text, not part of it: Neovim's "(2/3)" and the plugin's "… N more".
local NOTES = { ComplHintMore = true, AssistantGhostTextHint = true }

local function chunks_text(chunks)
  local parts, only_notes = {}, #chunks > 0
  for _, chunk in ipairs(chunks) do
    if not NOTES[chunk[2]] then
      table.insert(parts, chunk[1])
      only_notes = false
    end
  end
  return table.concat(parts), only_notes
end

local function ghost(bufnr)
  local spaces = api.nvim_get_namespaces()
  local found
  for _, name in ipairs({ "assistant.ghost_text", "nvim.lsp.inline_completion" }) do
    local ns = spaces[name]
    if ns then
      for _, mark in ipairs(api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })) do
        local details = mark[4]
        local lines = { (chunks_text(details.virt_text or {})) }
        for _, virt_line in ipairs(details.virt_lines or {}) do
          local line, only_notes = chunks_text(virt_line)
          if not only_notes then
            table.insert(lines, line)
          end
        end
        found = found or {}
        table.insert(found, { namespace = name, row = mark[2], col = mark[3], text = table.concat(lines, "\n") })
      end
    end
  end
  return found
end

function _G.assistant_probe()
  local bufnr = api.nvim_get_current_buf()
  local cursor = api.nvim_win_get_cursor(0)
  return {
    mode = api.nvim_get_mode().mode,
    lines = api.nvim_buf_get_lines(bufnr, 0, -1, false),
    row = cursor[1] - 1,
    col = cursor[2],
    marks = ghost(bufnr) or {},
    statusline = require("assistant").statusline(),
    clients = #vim.lsp.get_clients({ bufnr = bufnr, name = "repo-assistant" }),
  }
end

-- Snapshots taken right after each edit or cursor move in insert mode has been handled (by the plugin's and
-- Neovim's own autocommands and what they scheduled), before any debounce timer can fire: how the screen
-- looks after a keystroke, independent of how fast the test polls.
function _G.assistant_record_edits()
  _G.assistant_snapshots = {}
  api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = api.nvim_create_augroup("assistant_probe", { clear = true }),
    callback = function()
      vim.schedule(function()
        table.insert(_G.assistant_snapshots, _G.assistant_probe())
      end)
    end,
  })
end
