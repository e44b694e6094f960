--- `:checkhealth assistant`: the Neovim version, the `assistant` executable, whether the workspace is trusted,
--- its model dir, and a real start of the server (initialize, shutdown, exit over stdio; in a trusted
--- workspace only), plus the servers running now.

local config = require("assistant.config")
local lsp = require("assistant.lsp")
local status = require("assistant.status")
local trust = require("assistant.trust")

local health = vim.health

local M = {}

--- Seconds the server gets to answer `initialize` (it does not load the model before `initialized`).
M.start_timeout_s = 60

local function frame(message)
  local body = vim.json.encode(message)
  return ("Content-Length: %d\r\n\r\n%s"):format(#body, body)
end

--- The JSON-RPC messages in `out` (LSP base protocol framing).
---@param out string
---@return table[]
local function unframe(out)
  local messages, pos = {}, 1
  while true do
    local s, e, length = out:find("Content%-Length: (%d+)\r\n.-\r\n\r\n", pos)
    if not s then
      return messages
    end
    local ok, decoded = pcall(vim.json.decode, out:sub(e + 1, e + tonumber(length)))
    if ok then
      table.insert(messages, decoded)
    end
    pos = e + tonumber(length) + 1
  end
end

local function check_version()
  if vim.lsp.inline_completion then
    health.ok(("Neovim %s: ghost text by Neovim's own inline completion (native = %s)")
      :format(tostring(vim.version()), vim.inspect(config.options.native)))
    if not config.use_native() then
      health.info("`native = false`: this plugin draws the ghost text with extmarks instead")
    end
  elseif vim.fn.has("nvim-0.10") == 1 then
    health.ok(("Neovim %s: ghost text drawn by this plugin with extmarks (inline virtual text)")
      :format(tostring(vim.version())))
  else
    health.error("Neovim 0.10 or newer is needed (inline virtual text)", { "Upgrade Neovim" })
  end
end

---@return boolean
local function check_executable()
  local cmd = config.server_cmd()
  if type(cmd) == "function" then
    health.info("`cmd` is a function: the server is started by it, not as a program")
    return false
  end
  local exe = vim.fn.exepath(cmd[1])
  if exe == "" then
    health.error(("`%s` is not an executable"):format(cmd[1]), {
      "Install repo-assistant (`bash .ci/setup` in its checkout makes .venv/bin/assistant)",
      'Point the plugin at it: require("assistant").setup({ cli = { "/path/to/.venv/bin/assistant" } })',
    })
    return false
  end
  health.ok(("server command: %s (%s)"):format(table.concat(cmd, " "), exe))
  return true
end

---@param root string?
local function check_model_dir(root)
  if not root then
    health.warn("no workspace for the current buffer or directory (none of " .. table.concat(
      config.options.root_markers, ", ") .. " found upward)", { "Open a file of a git repository" })
    return
  end
  health.info("workspace: " .. root)
  local manifest = vim.fs.joinpath(root, ".assistant", "model", "model.json")
  local f = io.open(manifest, "r")
  if not f then
    health.warn("no model dir at " .. vim.fs.dirname(manifest) .. ": the server serves its configured base "
      .. "model only, if any", { ("Train one: assistant train --repo %s (or :Assistant train)"):format(root) })
    return
  end
  local ok, data = pcall(vim.json.decode, f:read("*a"))
  f:close()
  if not ok or type(data) ~= "table" then
    health.error(manifest .. " is not valid JSON", { "Train again: :Assistant train" })
    return
  end
  health.ok(("model dir %s (base %s, profile %s)"):format(vim.fs.dirname(manifest), tostring(data.base),
    tostring(data.profile)))
end

---@param root string?
local function check_server_start(root)
  local cmd = config.server_cmd()
  local requests = frame({ jsonrpc = "2.0", id = 1, method = "initialize", params = {
    processId = vim.NIL,
    rootUri = root and vim.uri_from_fname(root) or vim.NIL,
    capabilities = vim.empty_dict(),
  } }) .. frame({ jsonrpc = "2.0", id = 2, method = "shutdown" })
    .. frame({ jsonrpc = "2.0", method = "exit" })
  local ok, proc = pcall(vim.system, cmd, { stdin = requests, cwd = root })
  if not ok then
    health.error("cannot run the server: " .. tostring(proc))
    return
  end
  local res = proc:wait(M.start_timeout_s * 1000)
  local answer
  for _, message in ipairs(unframe(res.stdout or "")) do
    if message.id == 1 and type(message.result) == "table" then
      answer = message.result
    end
  end
  local stderr = vim.trim(res.stderr or "")
  local tail = stderr:sub(-600)
  if not answer then
    health.error(("the server did not answer `initialize` (exit code %s)%s"):format(tostring(res.code),
      tail ~= "" and (":\n" .. tail) or ""), { "Run it in a terminal: " .. table.concat(cmd, " ") })
    return
  end
  local info = answer.serverInfo or {}
  local caps = answer.capabilities or {}
  if caps.inlineCompletionProvider then
    health.ok(("the server starts and offers inline completion (%s %s)"):format(tostring(info.name),
      tostring(info.version)))
  else
    health.error("the server starts but does not offer textDocument/inlineCompletion",
      { "Update repo-assistant" })
  end
end

local function check_running()
  local clients = vim.lsp.get_clients({ name = lsp.name })
  if #clients == 0 then
    health.info("no server running in this Neovim")
  end
  for _, client in ipairs(clients) do
    health.info(("server %d for %s: %s"):format(client.id, tostring(client.root_dir),
      status.line(client.root_dir) ~= "" and status.line(client.root_dir) or "no status yet"))
  end
  for root, why in pairs(lsp.failed) do
    health.error(("the server for %s failed: %s"):format(root, why), { ":Assistant restart" })
  end
end

--- Whether the server may be started in `root` (no workspace: it starts without one).
---@param root string?
---@return boolean
local function check_trust(root)
  if not root then
    return true
  end
  if trust.trusted(root) then
    health.ok(("workspace %s is trusted"):format(trust.key(root)))
    return true
  end
  health.warn(("workspace %s is not trusted: no server starts there, and this check does not start one")
    :format(trust.key(root)), { "If you trust this repository: :Assistant trust" })
  return false
end

function M.check()
  health.start("repo-assistant: Neovim")
  check_version()
  health.start("repo-assistant: server")
  local root = vim.b.assistant_root or lsp.root_of(vim.api.nvim_get_current_buf())
    or vim.fs.root(vim.fn.getcwd(), config.options.root_markers)
  if check_executable() and check_trust(root) then
    check_server_start(root)
  end
  health.start("repo-assistant: model")
  check_model_dir(root)
  health.start("repo-assistant: running")
  check_running()
end

return M
