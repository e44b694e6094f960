--- repo-assistant for Neovim: ghost-text completions from `assistant serve`, a model trained on your own
--- repository. `require("assistant").setup({...})` once; see `:help assistant` for the options, keys and
--- commands, and `:checkhealth assistant` when something does not work.
---
--- Modules, one concern each: config (options), lsp (the server per workspace), completion + ghost (ghost
--- text drawn with extmarks, Neovim 0.10/0.11), native (Neovim 0.12's own inline completion), buffers
--- (the per-buffer state of both), suggestion (accepting, shared by both), telemetry, keymaps, status
--- (statusline), trust (which workspaces may start a server), commands (`:Assistant`), health.

local config = require("assistant.config")
local ghost = require("assistant.ghost")
local keymaps = require("assistant.keymaps")
local lsp = require("assistant.lsp")
local status = require("assistant.status")

local api = vim.api

local M = {}

---@return table engine `assistant.native` or `assistant.completion`
local function engine()
  return lsp.engine or require("assistant.completion")
end

--- Buffers our server is attached to.
---@return integer[]
local function attached_buffers()
  local bufs = {}
  for _, client in ipairs(vim.lsp.get_clients({ name = lsp.name })) do
    for bufnr in pairs(client.attached_buffers) do
      table.insert(bufs, bufnr)
    end
  end
  return bufs
end

--- Configure the plugin and start serving the buffers already open. Safe to call again with new options.
---@param opts? assistant.Options see `:help assistant-options`
function M.setup(opts)
  config.set(opts)
  if config.options.native == true and not vim.lsp.inline_completion then
    vim.notify("repo-assistant: `native = true` needs Neovim 0.12 (vim.lsp.inline_completion); "
      .. "drawing ghost text with extmarks instead", vim.log.levels.WARN)
  end
  local new_engine = config.use_native() and require("assistant.native") or require("assistant.completion")
  if lsp.engine and lsp.engine ~= new_engine then
    for _, bufnr in ipairs(attached_buffers()) do
      local client = lsp.client_of(bufnr)
      lsp.engine.detach(bufnr)
      if client then
        new_engine.attach(bufnr, client.id)
      end
    end
  end
  lsp.engine = new_engine

  ghost.define_highlights()
  local group = api.nvim_create_augroup("assistant", { clear = true })
  api.nvim_create_autocmd("ColorScheme", { group = group, callback = ghost.define_highlights })
  keymaps.setup(M)
  lsp.setup_autocmds()
  if config.options.auto_start then
    lsp.start_root(nil)
  end
end

--- Accept the whole suggestion. Returns false when no ghost text is shown (so a mapping can fall back).
---@return boolean
function M.accept()
  return engine().accept("all")
end

--- Accept the next word of the suggestion; the rest stays shown.
---@return boolean
function M.accept_word()
  return engine().accept("word")
end

--- Accept the rest of the suggestion's current line (or, at a line break, the next line).
---@return boolean
function M.accept_line()
  return engine().accept("line")
end

--- Hide the suggestion until the next edit.
---@return boolean
function M.dismiss()
  return engine().dismiss()
end

--- Show the next of several suggestions.
---@return boolean
function M.next()
  return engine().cycle(1)
end

--- Show the previous of several suggestions.
---@return boolean
function M.prev()
  return engine().cycle(-1)
end

--- The ghost text shown in the current buffer (what accepting would insert at the cursor), or nil.
---@return string?
function M.suggestion()
  local s = engine().current(api.nvim_get_current_buf())
  return s and s:remainder() or nil
end

--- Turn ghost text off or on: everywhere, or with `scope = "buffer"` in the current buffer only.
---@param scope? "buffer"
---@return boolean enabled whether ghost text is now on (in that scope)
function M.toggle(scope)
  local enabled
  if scope == "buffer" then
    enabled = vim.b.assistant_enabled == false
    vim.b.assistant_enabled = enabled
  else
    config.options.enabled = not config.options.enabled
    enabled = config.options.enabled
  end
  for _, bufnr in ipairs(attached_buffers()) do
    engine().refresh(bufnr)
  end
  return enabled
end

--- The status of the current buffer's server: state, model, message, eval; nil when it has none.
---@return assistant.Status?
function M.status()
  local root = vim.b.assistant_root
  return root and status.by_root[root] or nil
end

--- A statusline component: "assistant: ready (model)" (or loading, generating, error), "" without a server.
---@return string
function M.statusline()
  return status.line(vim.b.assistant_root)
end

return M
