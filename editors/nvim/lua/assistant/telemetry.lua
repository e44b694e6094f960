--- What the server learns about its suggestions (recorded locally under `.assistant/`, never sent anywhere):
--- shown (`textDocument/didShowCompletion`), partly accepted (`textDocument/didPartiallyAcceptCompletion`)
--- and accepted (the item's own command, run with `workspace/executeCommand`).

local text = require("assistant.text")

local M = {}

--- Counts of this editor session, shown by `:Assistant stats` next to the server's own figures.
M.counts = { shown = 0, partially_accepted = 0, accepted = 0 }

---@param client_id integer
---@return vim.lsp.Client?
local function client_of(client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  if client and not text.is_stopped(client) then
    return client
  end
  return nil
end

---@param client_id integer
---@param item table the InlineCompletionItem as received
function M.shown(client_id, item)
  local client = client_of(client_id)
  if client then
    M.counts.shown = M.counts.shown + 1
    text.notify(client, "textDocument/didShowCompletion", { item = item })
  end
end

---@param client_id integer
---@param item table
---@param accepted_length integer UTF-16 code units of the item's insertText now in the buffer
function M.partially_accepted(client_id, item, accepted_length)
  local client = client_of(client_id)
  if client then
    M.counts.partially_accepted = M.counts.partially_accepted + 1
    text.notify(client, "textDocument/didPartiallyAcceptCompletion", { item = item, acceptedLength = accepted_length })
  end
end

--- Whether the server declared `command` in its executeCommandProvider.
---@param client vim.lsp.Client
---@param command string
---@return boolean
local function supports_command(client, command)
  local provider = (client.server_capabilities or {}).executeCommandProvider
  return type(provider) == "table" and vim.tbl_contains(provider.commands or {}, command)
end

--- Run the accepted item's command (`repo-assistant.accept` with the completion id). A server that did not
--- declare the command is not asked to run it.
---@param client_id integer
---@param item table
---@param bufnr integer
function M.accepted(client_id, item, bufnr)
  M.counts.accepted = M.counts.accepted + 1
  local client = client_of(client_id)
  local command = item.command
  if not (client and type(command) == "table" and type(command.command) == "string") then
    return
  end
  if supports_command(client, command.command) then
    text.request(client, "workspace/executeCommand", { command = command.command, arguments = command.arguments },
      function() end, bufnr)
  end
end

return M
