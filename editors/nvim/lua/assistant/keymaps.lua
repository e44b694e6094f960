--- Insert-mode keys (`keymaps` option). Each acts on the ghost text when one is shown and otherwise does
--- what the key normally does, so `<Tab>` still indents where there is no suggestion.

local config = require("assistant.config")

local M = {}

---@type table<string, string> lhs mapped by this plugin, by action
local mapped = {}

--- Map `lhs` in insert mode to `action`, falling back to `lhs` itself when `action` returns false.
---@param lhs string
---@param action fun(): boolean
---@param desc string
local function map(lhs, action, desc)
  vim.keymap.set("i", lhs, function()
    if vim.fn.pumvisible() == 0 and action() then
      return ""
    end
    return lhs
  end, { expr = true, replace_keycodes = true, silent = true, desc = desc })
end

--- (Re)create the mappings from the current options.
---@param api_ table the functions of `require("assistant")`
function M.setup(api_)
  for _, lhs in pairs(mapped) do
    pcall(vim.keymap.del, "i", lhs)
  end
  mapped = {}
  local actions = {
    accept = { api_.accept, "repo-assistant: accept the suggestion" },
    accept_word = { api_.accept_word, "repo-assistant: accept the next word of the suggestion" },
    accept_line = { api_.accept_line, "repo-assistant: accept the next line of the suggestion" },
    dismiss = { api_.dismiss, "repo-assistant: dismiss the suggestion" },
    next = { api_.next, "repo-assistant: next suggestion" },
    prev = { api_.prev, "repo-assistant: previous suggestion" },
  }
  for name, lhs in pairs(config.options.keymaps) do
    if lhs then
      map(lhs, actions[name][1], actions[name][2])
      mapped[name] = lhs
    end
  end
end

return M
