--- The server's state for the statusline: `$/assistant/status` notifications (loading, ready, generating,
--- error, with the model name), plus what the plugin knows itself (starting, a server that would not start,
--- a workspace not trusted to start one).
---
--- Statusline: `%{v:lua.require'assistant'.statusline()}`; lualine: `{ require("assistant").statusline }`.
--- Every change fires `User AssistantStatus`, for statuslines that redraw on events.

local M = {}

---@class assistant.Status
---@field state "starting"|"loading"|"ready"|"generating"|"error"|"stopped"|"untrusted"
---@field model string
---@field message string
---@field eval any the model's evaluation summary, as the server sends it (nil when unknown)

---@type table<string, assistant.Status> by workspace root
M.by_root = {}

---@param root string
---@param status assistant.Status
function M.set(root, status)
  M.by_root[root] = status
  vim.schedule(function()
    vim.api.nvim_exec_autocmds("User", { pattern = "AssistantStatus", modeline = false, data = { root = root } })
    pcall(vim.cmd.redrawstatus)
  end)
end

--- Handler of the server's `$/assistant/status` notification for the server of `root`.
---@param root string
---@return lsp.Handler
function M.handler(root)
  return function(_, params)
    if type(params) ~= "table" then
      return
    end
    local eval = params.eval
    if eval == vim.NIL then
      eval = nil
    end
    M.set(root, {
      state = type(params.state) == "string" and params.state or "ready",
      model = type(params.model) == "string" and params.model or "",
      message = type(params.message) == "string" and params.message or "",
      eval = eval,
    })
  end
end

--- A model name short enough for a statusline: of "BASE + ADAPTER" the base, of a path its last part.
---@param model string
---@return string
function M.short_model(model)
  local base = vim.trim(model:match("^(.-) %+ ") or model)
  return base:gsub("[/\\]+$", ""):match("[^/\\]+$") or base
end

--- "assistant: ready (tiny-nano)" for the current buffer's workspace, or "" when it has no server.
---@param root string?
---@return string
function M.line(root)
  local status = root and M.by_root[root]
  if not status then
    return ""
  end
  if status.model == "" then
    return "assistant: " .. status.state
  end
  return ("assistant: %s (%s)"):format(status.state, M.short_model(status.model))
end

return M
