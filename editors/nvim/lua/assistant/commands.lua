--- `:Assistant {subcommand}`: status, toggle [buffer], start, stop, restart, trust, untrust, train [ARGS],
--- stats [ARGS].

local config = require("assistant.config")
local lsp = require("assistant.lsp")
local status = require("assistant.status")
local telemetry = require("assistant.telemetry")
local trust = require("assistant.trust")

local api = vim.api

local M = {}

local function notify(message, level)
  vim.notify("repo-assistant: " .. message, level or vim.log.levels.INFO)
end

--- The workspace root of the current buffer, else of the current directory.
---@return string?
local function current_root()
  return vim.b.assistant_root or lsp.root_of(api.nvim_get_current_buf())
    or vim.fs.root(vim.fn.getcwd(), config.options.root_markers)
end

---@return string?
local function root_or_complain()
  local root = current_root()
  if not root then
    notify(("no workspace here (none of %s found above this file or the current directory)")
      :format(table.concat(config.options.root_markers, ", ")), vim.log.levels.ERROR)
  end
  return root
end

local function cli(args)
  return vim.list_extend(vim.deepcopy(config.options.cli), args)
end

--- Open a scratch buffer named `name` in a split, showing `lines`.
local function show_scratch(name, lines)
  local existing = vim.fn.bufnr(name)
  if existing ~= -1 then
    api.nvim_buf_delete(existing, { force = true })
  end
  vim.cmd("botright new")
  local bufnr = api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "wipe"
  vim.bo[bufnr].swapfile = false
  api.nvim_buf_set_name(bufnr, name)
  api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  vim.keymap.set("n", "q", "<Cmd>close<CR>", { buffer = bufnr, desc = "close" })
end

local subcommands = {}

function subcommands.status()
  local root = current_root()
  local s = root and status.by_root[root]
  local engine = config.use_native() and "Neovim's inline completion (vim.lsp.inline_completion)"
    or "extmarks drawn by this plugin"
  local lines = {
    { "repo-assistant: " .. (s and s.state or "no server for this buffer"), s and s.state == "error" and "ErrorMsg"
      or "Title" },
    { "\n  workspace:  " .. (root or "none") },
    { "\n  model:      " .. (s and s.model ~= "" and s.model or "-") },
  }
  if s and s.message ~= "" then
    table.insert(lines, { "\n  message:    " .. s.message })
  end
  if s and s.eval ~= nil then
    local eval = type(s.eval) == "string" and s.eval or vim.inspect(s.eval)
    table.insert(lines, { "\n  evaluation: " .. eval })
  end
  local on = config.enabled_in(api.nvim_get_current_buf())
  table.insert(lines, { "\n  ghost text: " .. (on and "on" or "off") .. ", " .. engine })
  api.nvim_echo(lines, true, {})
end

function subcommands.toggle(args)
  local scope = args[1] == "buffer" and "buffer" or nil
  local on = require("assistant").toggle(scope)
  notify(("ghost text %s%s"):format(on and "on" or "off", scope and " in this buffer" or ""))
end

function subcommands.start()
  local bufnr = api.nvim_get_current_buf()
  local root = root_or_complain()
  if root then
    lsp.failed[root] = nil
    trust.ask_again(root)
    if not lsp.attach(bufnr) and not lsp.failed[root] then
      notify("this buffer does not get ghost text (its filetype is excluded, or it is not a file)",
        vim.log.levels.WARN)
    end
  end
end

--- Trust the workspace (remembered) and start its server.
function subcommands.trust()
  local root = root_or_complain()
  if root then
    trust.set(root, "allow")
    lsp.failed[root] = nil
    notify(("trusted %s: its server starts with its files"):format(trust.key(root)))
    lsp.start_root(root)
  end
end

--- Stop trusting the workspace (remembered): its server stops and none starts until `:Assistant trust`.
function subcommands.untrust()
  local root = root_or_complain()
  if root then
    trust.set(root, "deny")
    lsp.stop(root)
    notify(("%s is not trusted any more: no server starts there until :Assistant trust"):format(trust.key(root)))
  end
end

function subcommands.stop()
  local root = root_or_complain()
  if root then
    lsp.stop(root)
  end
end

function subcommands.restart()
  local root = root_or_complain()
  if root then
    lsp.restart(root)
  end
end

--- `assistant train --repo ROOT [ARGS]` in a terminal split; the server restarts with the new model after.
function subcommands.train(args)
  local root = root_or_complain()
  if not root then
    return
  end
  local cmd = cli(vim.list_extend({ "train", "--repo", root }, args))
  local previous = api.nvim_get_current_win()
  vim.cmd("botright 15new")
  local opts = {
    cwd = root,
    on_exit = function(_, code)
      vim.schedule(function()
        if code == 0 then
          notify("training finished; restarting the server with the new model")
          lsp.restart(root)
        else
          notify(("training failed (exit code %d); its output is in the terminal window"):format(code),
            vim.log.levels.ERROR)
        end
      end)
    end,
  }
  local ok, job
  if vim.fn.has("nvim-0.11") == 1 then
    opts.term = true
    ok, job = pcall(vim.fn.jobstart, cmd, opts)
  else
    ok, job = pcall(vim.fn.termopen, cmd, opts)
  end
  if not ok or job <= 0 then
    vim.cmd("close")
    notify(("cannot run %s: %s"):format(table.concat(cmd, " "), ok and "not executable" or job),
      vim.log.levels.ERROR)
    return
  end
  vim.b.assistant_train = root
  api.nvim_set_current_win(previous)
end

--- `assistant stats --repo ROOT [ARGS]` (the server's local telemetry) and this editor session's counts.
function subcommands.stats(args)
  local root = root_or_complain()
  if not root then
    return
  end
  local cmd = cli(vim.list_extend({ "stats", "--repo", root }, args))
  local c = telemetry.counts
  local session = ("This editor session: %d shown, %d partly accepted, %d accepted."):format(
    c.shown, c.partially_accepted, c.accepted)
  local ok, err = pcall(vim.system, cmd, { text = true, cwd = root }, vim.schedule_wrap(function(res)
    if res.code ~= 0 then
      local why = vim.trim(res.stderr or "")
      notify(("`%s` failed (exit code %d): %s\n%s"):format(table.concat(cmd, " "), res.code,
        why ~= "" and why or "no output", session), vim.log.levels.ERROR)
      return
    end
    local lines = vim.split(vim.trim(res.stdout or ""), "\n", { plain = true })
    vim.list_extend(lines, { "", session })
    show_scratch("assistant://stats", lines)
  end))
  if not ok then
    notify(("cannot run %s: %s"):format(table.concat(cmd, " "), err), vim.log.levels.ERROR)
  end
end

--- Run `:Assistant` with its arguments (`opts` as `nvim_create_user_command` passes them).
function M.run(opts)
  local args = vim.deepcopy(opts.fargs)
  local name = table.remove(args, 1) or "status"
  local fn = subcommands[name]
  if not fn then
    notify(("unknown subcommand `%s`; one of: %s"):format(name, table.concat(M.names(), ", ")),
      vim.log.levels.ERROR)
    return
  end
  fn(args)
end

---@return string[]
function M.names()
  local names = vim.tbl_keys(subcommands)
  table.sort(names)
  return names
end

--- Command-line completion of `:Assistant`.
function M.complete(arglead, cmdline)
  local words = vim.split(cmdline, "%s+", { trimempty = true })
  local completing_sub = #words == 1 or (#words == 2 and arglead ~= "")
  if completing_sub then
    return vim.tbl_filter(function(n)
      return vim.startswith(n, arglead)
    end, M.names())
  end
  if words[2] == "toggle" then
    return { "buffer" }
  end
  return {}
end

return M
