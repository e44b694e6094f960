--- Which workspaces may start a server. The server reads the workspace's config and loads the model found
--- there, so opening a file of a repository someone else wrote must not start one by itself: as VS Code's
--- workspace trust does, the plugin asks first, and remembers the answer.
---
--- The decision on a root, first that applies: this plugin's list (`stdpath("data")/assistant/trust.json`,
--- written by `:Assistant trust`, `:Assistant untrust` and the question below), the `trusted_dirs` option
--- (the user's init.lua: those directories and everything below), then Neovim's own trust database
--- (|vim.secure|; directories since Neovim 0.11). A root denied is never asked about again. Neovim's
--- `vim.secure.trust()` cannot allow a directory by path (only a file or a buffer), so this plugin keeps its own
--- list for its answers and reads Neovim's as well.

local config = require("assistant.config")

local M = {}

---@alias assistant.Trust "allow"|"deny"|nil

---@type table<string, boolean> roots asked about (or told about) in this session
local asked = {}

--- The canonical form of `root` under which decisions are stored (symlinks resolved, as Neovim's database does).
---@param root string
---@return string
function M.key(root)
  return vim.uv.fs_realpath(vim.fs.normalize(root)) or vim.fs.normalize(root)
end

---@return string
function M.file()
  return vim.fs.joinpath(vim.fn.stdpath("data"), "assistant", "trust.json")
end

---@return table<string, "allow"|"deny">
local function read_own()
  local f = io.open(M.file(), "r")
  if not f then
    return {}
  end
  local ok, data = pcall(vim.json.decode, f:read("*a"))
  f:close()
  return ok and type(data) == "table" and data or {}
end

--- Neovim's decision on the directory `key`: its database holds "HASH PATH" lines, "directory" allowing a
--- directory and "!" denying a path.
---@param key string
---@return assistant.Trust
local function neovim_decision(key)
  local f = io.open(vim.fs.joinpath(vim.fn.stdpath("state"), "trust"), "r")
  if not f then
    return nil
  end
  local decision
  for line in f:lines() do
    local hash, path = line:match("^(%S+) (.+)$")
    if path == key then
      decision = hash == "!" and "deny" or hash == "directory" and "allow" or nil
    end
  end
  f:close()
  return decision
end

--- Whether `key` is one of the `trusted_dirs` or below one.
---@param key string
---@return boolean
local function in_trusted_dirs(key)
  for _, dir in ipairs(config.options.trusted_dirs) do
    local base = M.key(vim.fn.expand(dir))
    if key == base or vim.startswith(key, base:sub(-1) == "/" and base or base .. "/") then
      return true
    end
  end
  return false
end

--- "allow", "deny" or nil (never decided) for `root`.
---@param root string
---@return assistant.Trust
function M.decision(root)
  local key = M.key(root)
  return read_own()[key] or (in_trusted_dirs(key) and "allow" or nil) or neovim_decision(key)
end

---@param root string
---@return boolean
function M.trusted(root)
  return M.decision(root) == "allow"
end

--- Record `decision` for `root` ("allow", "deny", or nil to forget it).
---@param root string
---@param decision assistant.Trust
function M.set(root, decision)
  local data = read_own()
  data[M.key(root)] = decision
  vim.fn.mkdir(vim.fs.dirname(M.file()), "p")
  local f = assert(io.open(M.file(), "w"))
  f:write(vim.json.encode(vim.tbl_isempty(data) and vim.empty_dict() or data))
  f:close()
  asked[M.key(root)] = nil
end

--- Let the next start in `root` ask again (an explicit `:Assistant start` after "Not now").
---@param root string
function M.ask_again(root)
  asked[M.key(root)] = nil
end

--- Whether the question can be put to someone: a UI is attached (a headless Neovim has none).
---@return boolean
function M.can_ask()
  return #vim.api.nvim_list_uis() > 0
end

M.choices = { "Trust it and start the server", "Not now", "Never for this directory" }

--- Once per session for an undecided `root`: ask whether to trust it (`vim.ui.select`), calling `on_allow`
--- after a yes; without a UI, only say how to trust it. `report(message)` tells the statusline why nothing
--- started.
---@param root string
---@param on_allow fun()
---@param report fun(message: string)
function M.ask(root, on_allow, report)
  local key = M.key(root)
  if asked[key] then
    return
  end
  asked[key] = true
  local why = ("%s is not a trusted workspace; the server would read its config and load its model"):format(root)
  report(why .. "; :Assistant trust starts it")
  if not M.can_ask() then
    vim.schedule(function()
      vim.notify(("repo-assistant: no server started: %s. If you trust this repository, run :Assistant trust")
        :format(why), vim.log.levels.WARN)
    end)
    return
  end
  vim.schedule(function()
    vim.ui.select(M.choices, { prompt = ("repo-assistant: start the completion server in %s? It reads the "
      .. "repository's config and loads the model found there."):format(root) }, function(_, idx)
      if idx == 1 then
        M.set(root, "allow")
        on_allow()
      elseif idx == 3 then
        M.set(root, "deny")
      end
    end)
  end)
end

return M
