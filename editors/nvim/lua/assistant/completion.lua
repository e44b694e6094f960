--- Ghost text drawn by this plugin (Neovim 0.10/0.11, or `native = false`): requests
--- `textDocument/inlineCompletion` after `debounce_ms` without typing, cancels the request in flight when
--- the text changes, draws the answer with extmarks, keeps it while the user types through it, and clears
--- it on InsertLeave or on typing that does not match it.
---
--- The engine interface (shared with `assistant.native`): attach, detach, current, accept, dismiss,
--- cycle, clear, refresh. The per-buffer state and its bookkeeping are in `assistant.buffers`; this module
--- adds the debounce timer and the request in flight.

local buffers = require("assistant.buffers")
local config = require("assistant.config")
local ghost = require("assistant.ghost")
local suggestion = require("assistant.suggestion")
local text = require("assistant.text")

local api = vim.api
local uv = vim.uv or vim.loop

local M = {}

---@class assistant.CompletionState: assistant.BufferState
---@field timer uv_timer_t?
---@field pending {id: integer?}? the request in flight

local store = buffers.new("completion")

---@param state assistant.CompletionState
local function stop_timer(state)
  if state.timer then
    state.timer:stop()
    state.timer:close()
    state.timer = nil
  end
end

---@param state assistant.CompletionState
local function cancel_request(state)
  local id = state.pending and state.pending.id
  state.pending = nil
  local client = id and vim.lsp.get_client_by_id(state.client_id)
  if client then
    text.cancel(client, id)
  end
end

--- Hide the ghost text of `bufnr` and cancel what is pending for it.
---@param bufnr integer
function M.clear(bufnr)
  ghost.clear(bufnr)
  local state = store.clear(bufnr) --[[@as assistant.CompletionState?]]
  if state then
    stop_timer(state)
    cancel_request(state)
  end
end

--- Draw the current suggestion of `bufnr` at the cursor; false (and nothing drawn) when it no longer fits
--- the text before the cursor or has been typed in full.
---@param bufnr integer
---@return boolean
local function render(bufnr)
  local state = store.get(bufnr)
  local s = state and state.suggestion
  local rest = s and s:remainder()
  if not rest or rest == "" then
    ghost.clear(bufnr)
    return false
  end
  local pos = api.nvim_win_get_cursor(0)
  ghost.show(bufnr, pos[1] - 1, pos[2], rest)
  s:report_shown()
  return true
end

---@param bufnr integer
local function request(bufnr)
  local state = store.get(bufnr) --[[@as assistant.CompletionState?]]
  local client = state and vim.lsp.get_client_by_id(state.client_id)
  if not client or not buffers.typing_in(bufnr) or not config.enabled_in(bufnr) then
    return
  end
  cancel_request(state)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or "utf-16")
  params.context = { triggerKind = 2 } -- Automatic: typing, not an explicit user request
  local cursor = api.nvim_win_get_cursor(0)
  local position = { cursor[1] - 1, cursor[2] }
  -- The answer may arrive before `request` returns (an in-process server), so it is matched by this token.
  local pending = {}
  state.pending = pending
  local ok, id = text.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if state.pending ~= pending then
      return -- cancelled, or overtaken by a newer request
    end
    state.pending = nil
    if err or store.get(bufnr) ~= state or not buffers.typing_in(bufnr) then
      return
    end
    state.suggestion = suggestion.new(bufnr, client, result, position)
    if not render(bufnr) then
      state.suggestion = nil
    end
  end, bufnr)
  if ok then
    pending.id = id
  elseif state.pending == pending then
    state.pending = nil
  end
end

--- Called on every edit and cursor move in insert mode.
---@param bufnr integer
local function on_edit(bufnr)
  local state = store.get(bufnr) --[[@as assistant.CompletionState?]]
  if not state then
    return
  end
  if not config.enabled_in(bufnr) then
    M.clear(bufnr)
    return
  end
  if state.suggestion and render(bufnr) then
    return -- typed through: the rest of the same suggestion, without asking the server
  end
  M.clear(bufnr)
  local timer = assert(uv.new_timer())
  state.timer = timer
  timer:start(config.options.debounce_ms, 0, vim.schedule_wrap(function()
    if store.get(bufnr) == state and state.timer == timer then -- not restarted or stopped since
      stop_timer(state)
      request(bufnr)
    end
  end))
end

---@param bufnr integer
---@param client_id integer
function M.attach(bufnr, client_id)
  local group = store.attach(bufnr, client_id)
  if not group then
    return -- attached already: only the client changed
  end
  api.nvim_create_autocmd({ "InsertEnter", "TextChangedI", "CursorMovedI" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_edit(bufnr)
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr)
    end,
  })
  if buffers.typing_in(bufnr) then
    on_edit(bufnr) -- the user was typing before the server was up
  end
end

---@param bufnr integer
function M.detach(bufnr)
  if store.get(bufnr) then
    M.clear(bufnr) -- stops the timer and the request while the state is still there
    store.detach(bufnr)
  end
end

--- The suggestion of `bufnr` while part of it is still to be typed or accepted.
M.current = store.current

--- Accept the current buffer's suggestion, or its next word or line. Returns false when none is shown.
--- The text is inserted on the next tick, so this can run in an `<expr>` mapping.
---@param kind assistant.AcceptKind
---@return boolean
function M.accept(kind)
  return store.with_current(function(bufnr, s)
    vim.schedule(function()
      local state = store.get(bufnr)
      if not state or state.suggestion ~= s then
        return
      end
      if s:accept(kind) then
        M.clear(bufnr) -- all of it is in: the next edit asks for a new suggestion
      else
        render(bufnr) -- the rest stays shown
      end
    end)
    return true
  end)
end

---@return boolean
function M.dismiss()
  return store.with_current(function(bufnr)
    M.clear(bufnr)
    return true
  end)
end

---@param count integer
---@return boolean
function M.cycle(count)
  return store.cycle(count, function(bufnr)
    if not render(bufnr) then
      M.clear(bufnr)
    end
  end)
end

--- Ask for a suggestion now (after `:Assistant toggle` turns ghost text back on).
---@param bufnr integer
function M.refresh(bufnr)
  if store.get(bufnr) then
    M.clear(bufnr)
    request(bufnr)
  end
end

return M
