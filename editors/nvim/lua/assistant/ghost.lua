--- Drawing ghost text with extmarks (Neovim 0.10/0.11, or `native = false`): the rest of the current line
--- as inline virtual text at the cursor, the following lines as virtual lines below it.

local config = require("assistant.config")

local api = vim.api

local M = {}

M.ns = api.nvim_create_namespace("assistant.ghost_text")

--- Highlight of the "… N more lines" note under a suggestion cut at `max_lines`.
M.hint_hl = "AssistantGhostTextHint"

--- Default highlights; a colorscheme or the user may override them.
function M.define_highlights()
  api.nvim_set_hl(0, "AssistantGhostText", { link = "Comment", default = true })
  api.nvim_set_hl(0, M.hint_hl, { link = "NonText", default = true })
end

---@param bufnr integer
function M.clear(bufnr)
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- Show `ghost` at (row, col), 0-based, replacing what this buffer showed before.
---@param bufnr integer
---@param row integer
---@param col integer
---@param ghost string
function M.show(bufnr, row, col, ghost)
  M.clear(bufnr)
  local hl = config.options.hl_group
  local lines = vim.split(ghost, "\n", { plain = true })
  local shown = math.min(#lines, config.options.max_lines)
  local virt_lines = {}
  for i = 2, shown do
    table.insert(virt_lines, { { lines[i], hl } })
  end
  if #lines > shown then
    table.insert(virt_lines, { { ("… %d more lines"):format(#lines - shown), M.hint_hl } })
  end
  local mark = { hl_mode = "combine", priority = 200 }
  if lines[1] ~= "" then
    mark.virt_text = { { lines[1], hl } }
    mark.virt_text_pos = "inline"
  end
  if #virt_lines > 0 then
    mark.virt_lines = virt_lines
  end
  api.nvim_buf_set_extmark(bufnr, M.ns, row, col, mark)
end

return M
