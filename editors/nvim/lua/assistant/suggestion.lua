--- A suggestion: the items of one `textDocument/inlineCompletion` answer, which of them is current, and
--- where it applies. Both ghost-text engines (extmarks and Neovim's native inline completion) keep one per
--- buffer and accept through it, so accepting and telemetry behave the same on every Neovim version.
---
--- An item replaces its `range` with `insertText`. While the user types through the ghost text, the text
--- from the range start to the cursor is a prefix of `insertText`; what follows it is the ghost text.

local text = require("assistant.text")
local telemetry = require("assistant.telemetry")

local api = vim.api

---@class assistant.Suggestion
---@field bufnr integer
---@field client_id integer
---@field items table[] the InlineCompletionItems as received (only those with a string insertText)
---@field index integer the current item
---@field encoding string the client's position encoding
---@field position integer[] (row, byte col), 0-based: where the cursor was when the items were requested
---@field suffix string the text after the cursor, on its line, when the answer arrived (typing goes before it)
---@field shown table<integer, boolean> items already reported with didShowCompletion
local Suggestion = {}
Suggestion.__index = Suggestion

local M = {}

---@return integer row, integer col 0-based cursor in the buffer's window
local function cursor(bufnr)
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    win = vim.fn.bufwinid(bufnr)
  end
  if win == -1 then
    return -1, -1
  end
  local pos = api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2]
end

--- The text after the cursor on its line.
---@param bufnr integer
---@return string
local function text_after_cursor(bufnr)
  local row, col = cursor(bufnr)
  local line = row >= 0 and api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  return line:sub(col + 1)
end

--- A suggestion from an inlineCompletion result, or nil when it holds nothing to show.
---@param bufnr integer
---@param client vim.lsp.Client
---@param result table|nil InlineCompletionList or InlineCompletionItem[]
---@param position integer[] 0-based (row, byte col) of the request
---@return assistant.Suggestion?
function M.new(bufnr, client, result, position)
  local items = {}
  for _, item in ipairs(type(result) == "table" and (result.items or result) or {}) do
    -- Snippet items (StringValue) are never sent by `assistant serve`; only plain text is shown.
    if type(item) == "table" and type(item.insertText) == "string" and item.insertText ~= "" then
      table.insert(items, item)
    end
  end
  if #items == 0 then
    return nil
  end
  return setmetatable({
    bufnr = bufnr,
    client_id = client.id,
    items = items,
    index = 1,
    encoding = client.offset_encoding or "utf-16",
    position = position,
    suffix = text_after_cursor(bufnr),
    shown = {},
  }, Suggestion)
end

---@return table item the current InlineCompletionItem, as received
function Suggestion:item()
  return self.items[self.index]
end

---@return string
function Suggestion:insert_text()
  return self:item().insertText
end

--- 0-based (row, byte col) of an LSP position in this buffer, or nil when the row is gone.
---@param pos {line: integer, character: integer}
---@return integer?, integer?
function Suggestion:to_byte_pos(pos)
  local line = api.nvim_buf_get_lines(self.bufnr, pos.line, pos.line + 1, false)[1]
  if not line then
    return nil
  end
  return pos.line, text.byte_col(line, pos.character, self.encoding)
end

--- Where the current item's text starts: its range start, or the request position without a range.
---@return integer row, integer col
function Suggestion:anchor()
  local range = self:item().range
  if range and range.start then
    local row, col = self:to_byte_pos(range.start)
    if row then
      return row, col
    end
  end
  return self.position[1], self.position[2]
end

--- Bytes after the request position (on its line) that accepting the whole item replaces: the part of the
--- range that lies to the right of the cursor when the request was made. Usually 0.
---@return integer
function Suggestion:tail()
  local range = self:item().range
  if not (range and range["end"]) or range["end"].line ~= self.position[1] then
    return 0
  end
  local _, col = self:to_byte_pos(range["end"])
  return math.max(0, (col or 0) - self.position[2])
end

--- The text between the anchor and the cursor, when it is a prefix of the current item (the user typed
--- through it, or accepted part of it) and the text after the cursor is what followed it when the answer
--- came; nil when the cursor left the suggestion (also by moving back into text typed through) or the
--- text differs.
---@return string?
function Suggestion:typed()
  if not api.nvim_buf_is_valid(self.bufnr) then
    return nil
  end
  local row, col = self:anchor()
  local crow, ccol = cursor(self.bufnr)
  if crow < row or (crow == row and ccol < col) or text_after_cursor(self.bufnr) ~= self.suffix then
    return nil
  end
  local ok, lines = pcall(api.nvim_buf_get_text, self.bufnr, row, col, crow, ccol, {})
  if not ok then
    return nil
  end
  local typed = table.concat(lines, "\n")
  if vim.startswith(self:insert_text(), typed) then
    return typed
  end
  return nil
end

--- The ghost text: what the current item would still insert at the cursor; nil when it no longer applies.
---@return string?
function Suggestion:remainder()
  local typed = self:typed()
  if not typed then
    return nil
  end
  return self:insert_text():sub(#typed + 1)
end

--- Make another item current; returns false when there is only one.
---@param count integer
---@return boolean
function Suggestion:cycle(count)
  local n = #self.items
  if n < 2 then
    return false
  end
  self.index = (self.index - 1 + count) % n + 1
  return true
end

--- Make current the item equal to `insert_text` (the native engine reports the item it accepts that way).
---@param insert_text string
function Suggestion:select_text(insert_text)
  for i, item in ipairs(self.items) do
    if item.insertText == insert_text then
      self.index = i
      return
    end
  end
end

--- Report the current item as shown, once per item.
function Suggestion:report_shown()
  if self.shown[self.index] then
    return
  end
  self.shown[self.index] = true
  telemetry.shown(self.client_id, self:item())
end

---@alias assistant.AcceptKind "all"|"word"|"line"

--- Insert the whole ghost text, or its next word or line, at the cursor, move the cursor after it and
--- tell the server. Returns true when the whole item is now in the buffer.
---@param kind assistant.AcceptKind
---@return boolean done
function Suggestion:accept(kind)
  local typed = self:typed()
  if not typed then
    return false
  end
  local rest = self:insert_text():sub(#typed + 1)
  local part = rest
  if kind == "word" then
    part = text.next_word(rest)
  elseif kind == "line" then
    part = text.next_line(rest)
  end
  local done = part == rest
  local row, col = cursor(self.bufnr)
  local replace_to = col
  if done and kind == "all" then
    local line = api.nvim_buf_get_lines(self.bufnr, row, row + 1, false)[1] or ""
    replace_to = math.min(#line, col + self:tail())
  end
  local lines = vim.split(part, "\n", { plain = true })
  api.nvim_buf_set_text(self.bufnr, row, col, row, replace_to, lines)
  local last = lines[#lines]
  local win = vim.fn.bufwinid(self.bufnr)
  if win ~= -1 then
    api.nvim_win_set_cursor(win, { row + #lines, (#lines == 1 and col or 0) + #last })
  end
  if done then
    telemetry.accepted(self.client_id, self:item(), self.bufnr)
  else
    telemetry.partially_accepted(self.client_id, self:item(), text.utf16_len(typed .. part))
  end
  return done
end

M.Suggestion = Suggestion
return M
