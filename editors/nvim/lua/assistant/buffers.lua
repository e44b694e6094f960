--- Per-buffer state of a ghost-text engine (`assistant.completion` or `assistant.native`): which client
--- serves each attached buffer, the augroup of its autocmds, and the suggestion it shows. Each engine keeps
--- its own table (`buffers.new(name)`) and adds only what is specific to it; attaching, detaching, the
--- current suggestion and the bookkeeping of accept, dismiss, cycle and clear are done here the same way
--- for both.

local api = vim.api

local M = {}

---@class assistant.BufferState
---@field client_id integer
---@field augroup integer
---@field suggestion assistant.Suggestion?

--- The per-buffer state of one engine and what is done with it. Its functions close over the table (call
--- them with a dot), so an engine can export them as they are.
---@class assistant.Buffers

--- An empty table of buffer states for the engine `name` (in its augroups' names:
--- `assistant.<name>.<bufnr>`).
---@param name string
---@return assistant.Buffers
function M.new(name)
  ---@type table<integer, assistant.BufferState>
  local states = {}
  local store = {}

  --- The state of `bufnr`, nil when it is not attached.
  ---@param bufnr integer
  ---@return assistant.BufferState?
  function store.get(bufnr)
    return states[bufnr]
  end

  --- Attach `bufnr`, served by `client_id`. Returns the new (empty) augroup for the engine's autocmds in
  --- `bufnr`; nil when it was attached already, and then only its client changes.
  ---@param bufnr integer
  ---@param client_id integer
  ---@return integer? augroup
  function store.attach(bufnr, client_id)
    local state = states[bufnr]
    if state then
      state.client_id = client_id
      return nil
    end
    local group = api.nvim_create_augroup(("assistant.%s.%d"):format(name, bufnr), { clear = true })
    states[bufnr] = { client_id = client_id, augroup = group }
    return group
  end

  --- Forget `bufnr` and delete its autocmds. Returns its last state, nil when it was not attached.
  ---@param bufnr integer
  ---@return assistant.BufferState?
  function store.detach(bufnr)
    local state = states[bufnr]
    if not state then
      return nil
    end
    states[bufnr] = nil
    pcall(api.nvim_del_augroup_by_id, state.augroup)
    return state
  end

  --- The suggestion of `bufnr` while part of it is still to be typed or accepted.
  ---@param bufnr integer
  ---@return assistant.Suggestion?
  function store.current(bufnr)
    local state = states[bufnr]
    local s = state and state.suggestion
    if s and s:remainder() then
      return s
    end
    return nil
  end

  --- Drop the suggestion of `bufnr` (the engine hides it). Returns the state, nil when not attached.
  ---@param bufnr integer
  ---@return assistant.BufferState?
  function store.clear(bufnr)
    local state = states[bufnr]
    if state then
      state.suggestion = nil
    end
    return state
  end

  --- `fn(bufnr, suggestion)` on the suggestion shown in the current buffer, and what it returns; false when
  --- none is shown. Accepting and dismissing go through this.
  ---@param fn fun(bufnr: integer, s: assistant.Suggestion): boolean
  ---@return boolean
  function store.with_current(fn)
    local bufnr = api.nvim_get_current_buf()
    local s = store.current(bufnr)
    if not s then
      return false
    end
    return fn(bufnr, s)
  end

  --- Make the `count`th next (or previous, when negative) item of the current buffer's suggestion current
  --- and let `show(bufnr, suggestion)` show it. False when no suggestion is shown or it has a single item.
  ---@param count integer
  ---@param show fun(bufnr: integer, s: assistant.Suggestion)
  ---@return boolean
  function store.cycle(count, show)
    return store.with_current(function(bufnr, s)
      if not s:cycle(count) then
        return false
      end
      show(bufnr, s)
      return true
    end)
  end

  return store
end

--- Whether the user is typing (in insert mode) in `bufnr`, the current buffer.
---@param bufnr integer
---@return boolean
function M.typing_in(bufnr)
  return api.nvim_get_current_buf() == bufnr and api.nvim_get_mode().mode:sub(1, 1) == "i"
end

return M
