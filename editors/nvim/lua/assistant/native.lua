--- Ghost text by Neovim's own inline completion (`vim.lsp.inline_completion`, Neovim 0.12+): Neovim
--- requests, debounces, draws and cycles. This module enables it in the buffers the server is attached to,
--- watches its answers to keep the same `Suggestion` as the extmark engine (accept word/line, telemetry,
--- clearing on mismatching typing), and accepts through `vim.lsp.inline_completion.get({ on_accept })`.
---
--- Same interface as `assistant.completion`: attach, detach, current, accept, dismiss, cycle, clear, refresh.
--- The per-buffer state and its bookkeeping are in `assistant.buffers`.

local buffers = require("assistant.buffers")
local config = require("assistant.config")
local suggestion = require("assistant.suggestion")
local text = require("assistant.text")

local api = vim.api

local M = {}

local store = buffers.new("native")

---@type table<integer, boolean> clients whose inlineCompletion answers are watched
local watched = {}

--- Hide Neovim's ghost text in `bufnr` (and cancel its pending request). `get()` with an `on_accept` that
--- inserts nothing is the public way to do that; it returns false when nothing was shown.
---@param bufnr integer
---@return boolean
local function hide(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr, on_accept = function() end })
end

--- Neovim has just drawn the first item of `result` (or hidden its ghost text, for an empty one).
local function on_answer(client, err, result, ctx, params)
  local bufnr = ctx and ctx.bufnr
  if not bufnr or bufnr == 0 then
    bufnr = vim.uri_to_bufnr(params.textDocument.uri)
  end
  local state = store.get(bufnr)
  if not state or err then
    return
  end
  local pos = params.position
  local line = api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ""
  local position = { pos.line, text.byte_col(line, pos.character, client.offset_encoding or "utf-16") }
  local s = suggestion.new(bufnr, client, result, position)
  state.suggestion = s
  if not s or not buffers.typing_in(bufnr) then
    return
  end
  if not s:remainder() then
    -- A late answer for text the user has typed over since: do not leave it on screen.
    state.suggestion = nil
    hide(bufnr)
    return
  end
  s:report_shown()
end

--- Neovim's inline completion hands its own response handler to `client:request`; wrapping that method
--- on this plugin's client (and no other) is how the plugin learns which items are on screen.
---@param client vim.lsp.Client
local function watch(client)
  if watched[client.id] then
    return
  end
  watched[client.id] = true
  local request = client.request
  client.request = function(self, method, params, handler, bufnr)
    if method == "textDocument/inlineCompletion" and type(handler) == "function" then
      local draw = handler
      handler = function(err, result, ctx, ...)
        draw(err, result, ctx, ...)
        on_answer(self, err, result, ctx, params)
      end
    end
    return request(self, method, params, handler, bufnr)
  end
end

---@param bufnr integer
---@param client_id integer
function M.attach(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  if not client then
    return
  end
  watch(client)
  local group = store.attach(bufnr, client_id)
  if group then
    api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
      group = group,
      buffer = bufnr,
      callback = function()
        local state = store.get(bufnr)
        if state and state.suggestion and not state.suggestion:remainder() then
          -- Typing that does not match the ghost text, or moving away from it, clears it at once (Neovim
          -- would keep showing it, where it was requested, until its next answer arrives).
          M.clear(bufnr)
        end
      end,
    })
    api.nvim_create_autocmd("InsertLeave", {
      group = group,
      buffer = bufnr,
      callback = function()
        store.clear(bufnr)
      end,
    })
  end
  M.refresh(bufnr)
end

---@param bufnr integer
function M.detach(bufnr)
  if store.detach(bufnr) and api.nvim_buf_is_valid(bufnr) then
    vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
  end
end

--- The suggestion of `bufnr` while part of it is still to be typed or accepted.
M.current = store.current

---@param kind assistant.AcceptKind
---@return boolean
function M.accept(kind)
  return store.with_current(function(bufnr, s)
    return vim.lsp.inline_completion.get({
      bufnr = bufnr,
      on_accept = function(item)
        store.clear(bufnr) -- Neovim asks for the next suggestion itself
        if type(item.insert_text) == "string" then
          s:select_text(item.insert_text)
        end
        s:accept(kind)
      end,
    })
  end)
end

---@return boolean
function M.dismiss()
  return store.with_current(function(bufnr)
    store.clear(bufnr)
    return hide(bufnr)
  end)
end

---@param count integer
---@return boolean
function M.cycle(count)
  return store.cycle(count, function(bufnr, s)
    vim.lsp.inline_completion.select({ bufnr = bufnr, count = count })
    s:report_shown()
  end)
end

---@param bufnr integer
function M.clear(bufnr)
  if store.clear(bufnr) then
    hide(bufnr)
  end
end

--- Turn Neovim's inline completion on or off in `bufnr` to match `enabled_in(bufnr)`.
---@param bufnr integer
function M.refresh(bufnr)
  if not store.get(bufnr) then
    return
  end
  local on = config.enabled_in(bufnr)
  if not on then
    M.clear(bufnr)
  end
  if vim.lsp.inline_completion.is_enabled({ bufnr = bufnr }) ~= on then
    vim.lsp.inline_completion.enable(on, { bufnr = bufnr })
  end
end

return M
