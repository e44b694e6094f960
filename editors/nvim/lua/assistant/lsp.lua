--- The language server: one `assistant serve` per workspace root, started (or reused) through
--- `vim.lsp.start` when a buffer of an enabled filetype opens, stopped with the editor (Neovim stops every
--- LSP client on exit). A server that cannot start is reported once per root with an error message, and
--- editing goes on without ghost text until `:Assistant restart`. Nothing starts in a workspace the user
--- has not trusted (`assistant.trust`): the plugin asks first.

local config = require("assistant.config")
local status = require("assistant.status")
local text = require("assistant.text")
local trust = require("assistant.trust")

local api = vim.api

local M = {}

M.name = "repo-assistant"

---@type table<string, string> why the server of a root could not start (not retried until restart)
M.failed = {}

---@type table<integer, boolean> clients this plugin is stopping on purpose
local stopping = {}

---@type table<string, boolean> roots to start again once their server has exited (`:Assistant restart`)
local restart_pending = {}

--- The engine that draws ghost text (`assistant.native` or `assistant.completion`); set by `setup()`.
M.engine = nil

--- The workspace root of `bufnr`, or nil for a buffer outside any workspace.
---@param bufnr integer
---@return string?
function M.root_of(bufnr)
  local name = api.nvim_buf_get_name(bufnr)
  if name == "" then
    return nil
  end
  return vim.fs.root(bufnr, config.options.root_markers)
end

--- Whether `bufnr` is a file buffer that should get a server.
---@param bufnr integer
---@return boolean
local function eligible(bufnr)
  return api.nvim_buf_is_valid(bufnr)
    and api.nvim_buf_is_loaded(bufnr)
    and vim.bo[bufnr].buftype == ""
    and config.filetype_allowed(bufnr)
end

---@param root string
---@param message string
local function fail(root, message)
  M.failed[root] = message
  status.set(root, { state = "error", model = "", message = message })
  vim.schedule(function()
    vim.notify("repo-assistant: " .. message, vim.log.levels.ERROR)
  end)
end

--- Whether `client` is running and not being stopped (Neovim lists a client until it is gone).
---@param client vim.lsp.Client
---@return boolean
local function live(client)
  return not stopping[client.id] and not text.is_stopped(client)
end

--- Our client serving `root`, if it is running.
---@param root string
---@return vim.lsp.Client?
function M.client_for(root)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    if client.root_dir == root and live(client) then
      return client
    end
  end
  return nil
end

--- Our client attached to `bufnr`, if any (and not on its way out).
---@param bufnr integer
---@return vim.lsp.Client?
function M.client_of(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name, bufnr = bufnr })) do
    if live(client) then
      return client
    end
  end
  return nil
end

---@param root string
---@return vim.lsp.ClientConfig
local function client_config(root)
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  -- Neovim 0.10/0.11 do not announce inline completion; this plugin handles it for them.
  capabilities.textDocument.inlineCompletion = capabilities.textDocument.inlineCompletion
    or { dynamicRegistration = false }
  return {
    name = M.name,
    cmd = config.server_cmd(),
    cmd_cwd = root,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fs.basename(root) } },
    capabilities = capabilities,
    handlers = { ["$/assistant/status"] = status.handler(root) },
    on_attach = function(client, bufnr)
      if M.engine then
        M.engine.attach(bufnr, client.id)
      end
    end,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        M.on_exit(root, code, signal, client_id)
      end)
    end,
  }
end

---@param root string
---@param code integer
---@param signal integer
---@param client_id integer
function M.on_exit(root, code, signal, client_id)
  local on_purpose = stopping[client_id] -- kept: Neovim may still list the client while it goes away
  if restart_pending[root] then
    restart_pending[root] = nil
    M.start_root(root)
    return
  end
  if on_purpose or vim.v.exiting ~= vim.NIL then
    status.set(root, { state = "stopped", model = "", message = "" })
  elseif code ~= 0 or signal ~= 0 then
    local how = signal ~= 0 and ("was killed by signal %d"):format(signal) or ("exited with code %d"):format(code)
    fail(root, ("the server for %s %s; run the server command in a terminal or :checkhealth assistant "
      .. "to see why, then :Assistant restart"):format(root, how))
  else
    status.set(root, { state = "stopped", model = "", message = "" })
  end
end

--- Attach the server of `bufnr`'s workspace to `bufnr`, starting it unless `start` is false and it is not
--- running yet.
---@param bufnr integer
---@param start? boolean default true
---@return integer? client_id
function M.attach(bufnr, start)
  if not eligible(bufnr) then
    return nil
  end
  local attached = M.client_of(bufnr)
  if attached then
    return attached.id
  end
  -- Cached in the buffer (false: outside any workspace), for the statusline and BufEnter, which must not
  -- search the file system each time.
  local root = vim.b[bufnr].assistant_root
  if root == nil then
    root = M.root_of(bufnr) or false
    vim.b[bufnr].assistant_root = root
  end
  if not root then
    return nil
  end
  local running = M.client_for(root)
  if running then
    vim.lsp.buf_attach_client(bufnr, running.id)
    return running.id
  end
  if start == false or M.failed[root] then
    return nil
  end
  if not trust.trusted(root) then
    M.untrusted(root)
    return nil
  end
  local cmd = config.server_cmd()
  if type(cmd) == "table" and vim.fn.executable(cmd[1]) == 0 then
    fail(root, ("cannot start the server: `%s` is not an executable; set `cli` (or `cmd`) in "
      .. "require(\"assistant\").setup(), see :checkhealth assistant"):format(cmd[1]))
    return nil
  end
  status.set(root, { state = "starting", model = "", message = "" })
  local ok, id = pcall(vim.lsp.start, client_config(root), { bufnr = bufnr, silent = true })
  if not ok or not id then
    fail(root, ("cannot start the server %s: %s"):format(vim.inspect(cmd), ok and "vim.lsp.start failed" or id))
    return nil
  end
  return id
end

--- No server for the untrusted `root`: ask (once a session) whether to trust it, unless it was denied.
---@param root string
function M.untrusted(root)
  local function report(message)
    local now = status.by_root[root]
    if not (now and now.state == "untrusted" and now.message == message) then
      status.set(root, { state = "untrusted", model = "", message = message })
    end
  end
  if trust.decision(root) == "deny" then
    report(("%s is not trusted (denied); :Assistant trust starts a server there"):format(root))
    return
  end
  trust.ask(root, function()
    M.start_root(root)
  end, report)
end

--- Attach every eligible loaded buffer of `root` (of every workspace when nil), starting servers.
---@param root string?
function M.start_root(root)
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if eligible(bufnr) and (root == nil or (vim.b[bufnr].assistant_root or M.root_of(bufnr) or false) == root) then
      M.attach(bufnr)
    end
  end
end

--- Stop the server of `root`.
---@param root string
function M.stop(root)
  local client = M.client_for(root)
  if client then
    stopping[client.id] = true
    text.stop(client)
  end
end

--- Stop the server of `root` and start it again (a new model, or after a failure).
---@param root string
function M.restart(root)
  M.failed[root] = nil
  local client = M.client_for(root)
  if client then
    restart_pending[root] = true
    stopping[client.id] = true
    text.stop(client)
  else
    M.start_root(root)
  end
end

--- Autocommands that attach buffers as they are entered (starting their server with `auto_start`, else
--- only joining one already running) and keep the engine in step.
function M.setup_autocmds()
  local group = api.nvim_create_augroup("assistant.lsp", { clear = true })
  -- BufEnter: the filetype is known by then (also for files without one, which never fire FileType).
  api.nvim_create_autocmd({ "BufEnter", "FileType" }, {
    group = group,
    callback = function(ev)
      M.attach(ev.buf, config.options.auto_start)
    end,
  })
  api.nvim_create_autocmd("LspDetach", {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == M.name and M.engine then
        M.engine.detach(ev.buf)
      end
    end,
  })
end

return M
