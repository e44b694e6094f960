--- Options of the repo-assistant plugin: every option, its default and what it does.
---
--- `require("assistant").setup(opts)` deep-merges `opts` over `defaults` and validates the result here;
--- the other modules read the merged options through `require("assistant.config").options`.

local M = {}

---@class assistant.Keymaps
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field dismiss string|false
---@field next string|false
---@field prev string|false

---@class assistant.Options
M.defaults = {
  -- The `assistant` command line, as a list: the program and any leading arguments. `:Assistant train` and
  -- `:Assistant stats` run it, and the server is started as this list plus `serve` (unless `cmd` is set).
  -- Example: { vim.fn.expand("~/src/repo-assistant/.venv/bin/assistant") }.
  cli = { "assistant" },

  -- The language server command; nil means `cli` followed by `serve` (and `--log-file FILE` when `log_file`
  -- is set). A list of strings, or a function as `vim.lsp.start()` accepts for `cmd`.
  cmd = nil,

  -- Also write the server's log to this file (passed as `--log-file`); nil: no log file.
  log_file = nil,

  -- Start (or reuse) one server per workspace root when a buffer of an enabled filetype is opened.
  -- false: nothing starts until `:Assistant start`.
  auto_start = true,

  -- Directories whose workspaces are trusted without asking: each directory and every directory below it, as
  -- in { "~/src/mine" }. Elsewhere a server starts only in a workspace trusted with `:Assistant trust` (or by
  -- answering the question the plugin asks, or by Neovim's own |vim.secure| trust of the directory): the
  -- server reads the workspace's config and loads the model found there.
  trusted_dirs = {},

  -- Files or directories that mark a workspace root, searched upward from the buffer's file in this order.
  -- A buffer outside any workspace gets no server (the model is trained per repository).
  root_markers = { ".assistant", "assistant.toml", ".git" },

  -- Filetypes that get ghost text; nil: every filetype except those in `exclude_filetypes`.
  filetypes = nil,

  -- Filetypes that never get ghost text.
  exclude_filetypes = { "gitcommit", "gitrebase", "hgcommit", "svn", "help" },

  -- Ghost text starts enabled. `:Assistant toggle` flips it for all buffers, `:Assistant toggle buffer`
  -- for the current one; setting `vim.b.assistant_enabled = false` in a buffer disables it there.
  enabled = true,

  -- "auto": Neovim's own inline completion (`vim.lsp.inline_completion`, Neovim 0.12+) where it exists,
  -- else ghost text drawn by this plugin with extmarks (Neovim 0.10/0.11). true: require the native one;
  -- false: always draw with extmarks.
  native = "auto",

  -- Milliseconds without typing before a completion is requested (extmark ghost text; Neovim's native
  -- inline completion uses its own fixed delay).
  debounce_ms = 150,

  -- Most lines of a suggestion drawn (extmark ghost text); a longer one ends with a "… N more lines" note.
  -- Accepting inserts the whole suggestion either way.
  max_lines = 12,

  -- Highlight group of the ghost text drawn with extmarks; by default it links to `Comment`. Neovim's
  -- native inline completion draws with its own `ComplHint` group.
  hl_group = "AssistantGhostText",

  -- Insert-mode keys. Each falls back to the key's normal behaviour when no ghost text is shown (or the
  -- popup menu is visible). false: no mapping (call the functions of `require("assistant")` yourself).
  keymaps = {
    accept = "<Tab>", -- insert the whole suggestion
    accept_word = "<M-Right>", -- insert the suggestion's next word
    accept_line = "<M-Down>", -- insert the rest of the suggestion's current line
    dismiss = "<C-]>", -- hide the suggestion until the next edit
    next = "<M-]>", -- show the next suggestion, when the server offered several
    prev = "<M-[>", -- show the previous suggestion
  },
}

---@type assistant.Options
M.options = vim.deepcopy(M.defaults)

local function is_list_of_strings(value)
  if type(value) ~= "table" then
    return false
  end
  for _, item in ipairs(value) do
    if type(item) ~= "string" then
      return false
    end
  end
  return #value == vim.tbl_count(value)
end

local function optional_list_of_strings(value)
  return value == nil or is_list_of_strings(value)
end

local function key_or_false(value)
  return value == false or (type(value) == "string" and value ~= "")
end

--- Validate `opts`, raising an error that names the option and what it accepts.
---@param opts assistant.Options
local function validate(opts)
  local checks = {
    cli = { is_list_of_strings, "a non-empty list of strings" },
    cmd = {
      function(v)
        return v == nil or type(v) == "function" or (is_list_of_strings(v) and #v > 0)
      end,
      "nil, a list of strings or a function",
    },
    log_file = { function(v) return v == nil or type(v) == "string" end, "nil or a file name" },
    auto_start = { function(v) return type(v) == "boolean" end, "true or false" },
    trusted_dirs = { is_list_of_strings, "a list of directories" },
    root_markers = { is_list_of_strings, "a list of file names" },
    filetypes = { optional_list_of_strings, "nil or a list of filetypes" },
    exclude_filetypes = { is_list_of_strings, "a list of filetypes" },
    enabled = { function(v) return type(v) == "boolean" end, "true or false" },
    native = { function(v) return v == "auto" or type(v) == "boolean" end, '"auto", true or false' },
    debounce_ms = { function(v) return type(v) == "number" and v >= 0 end, "a number of milliseconds >= 0" },
    max_lines = { function(v) return type(v) == "number" and v >= 1 end, "a number >= 1" },
    hl_group = { function(v) return type(v) == "string" and v ~= "" end, "a highlight group name" },
    keymaps = { function(v) return type(v) == "table" end, "a table" },
  }
  for key in pairs(opts) do
    if not checks[key] then
      error(("repo-assistant: unknown option `%s`; see :help assistant-options"):format(key), 0)
    end
  end
  for key, check in pairs(checks) do
    if not check[1](opts[key]) then
      error(("repo-assistant: option `%s` must be %s, got %s"):format(key, check[2], vim.inspect(opts[key])), 0)
    end
  end
  if #opts.cli == 0 then
    error("repo-assistant: option `cli` must be a non-empty list of strings", 0)
  end
  for name, lhs in pairs(opts.keymaps) do
    if M.defaults.keymaps[name] == nil then
      error(("repo-assistant: unknown key `keymaps.%s`; see :help assistant-keymaps"):format(name), 0)
    end
    if not key_or_false(lhs) then
      error(("repo-assistant: `keymaps.%s` must be a key (like \"<Tab>\") or false"):format(name), 0)
    end
  end
end

--- Merge `opts` over the defaults, validate, and make the result current.
---@param opts? table
---@return assistant.Options
function M.set(opts)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- Lists replace the default list rather than merge into it by index.
  for _, key in ipairs({ "cli", "cmd", "trusted_dirs", "root_markers", "filetypes", "exclude_filetypes" }) do
    if opts and opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  validate(merged)
  M.options = merged
  return merged
end

--- The server command for the current options.
---@return string[]|function
function M.server_cmd()
  local o = M.options
  if o.cmd then
    return o.cmd
  end
  local cmd = vim.list_extend(vim.deepcopy(o.cli), { "serve" })
  if o.log_file then
    vim.list_extend(cmd, { "--log-file", vim.fn.expand(o.log_file) })
  end
  return cmd
end

--- Whether `bufnr`'s filetype gets ghost text (per `filetypes` and `exclude_filetypes`).
---@param bufnr integer
---@return boolean
function M.filetype_allowed(bufnr)
  local ft = vim.bo[bufnr].filetype
  local o = M.options
  if vim.tbl_contains(o.exclude_filetypes, ft) then
    return false
  end
  return o.filetypes == nil or vim.tbl_contains(o.filetypes, ft)
end

--- Whether ghost text is on in `bufnr` now: globally (`enabled`, `:Assistant toggle`) and for the buffer
--- (`vim.b.assistant_enabled`, `:Assistant toggle buffer`).
---@param bufnr integer
---@return boolean
function M.enabled_in(bufnr)
  return M.options.enabled and vim.b[bufnr].assistant_enabled ~= false and M.filetype_allowed(bufnr)
end

--- Whether the native inline completion (Neovim 0.12+) draws the ghost text.
---@return boolean
function M.use_native()
  local native = M.options.native
  local available = vim.lsp.inline_completion ~= nil
  if native == "auto" then
    return available
  end
  return native and available
end

return M
