-- An in-process language server (`vim.lsp.start` accepts a function as `cmd`) for the protocol contract
-- between plugin and server: it offers two suggestions with accept commands, records every message the
-- plugin sends (`_G.fake_server_log`), and reports its status like `assistant serve`. The real server is
-- tested by the other tests; this one pins what the plugin sends, which the real server only records.
-- With `_G.fake_server_log_file` set, each message is also appended to that file as a JSON line (it
-- outlives Neovim, for the test of quitting).

local M = {}

-- Non-ASCII on purpose: acceptedLength counts UTF-16 code units ("é" and "ö" are 1, "😀" is 2), not bytes.
M.items = {
  { text = "héllo_wörld(1) + 😀x\nsecond_line()", id = "first" },
  { text = "alternative()", id = "second" },
}

_G.fake_server_log = {}

local function record(kind, method, params)
  local entry = { kind = kind, method = method, params = params }
  table.insert(_G.fake_server_log, entry)
  if _G.fake_server_log_file then
    local f = assert(io.open(_G.fake_server_log_file, "a"))
    f:write(vim.json.encode({ kind = kind, method = method }), "\n")
    f:close()
  end
end

function M.cmd(dispatchers)
  local closing = false
  local next_id = 0
  local server = {}

  local function reply(callback, notify_reply_callback, id, result)
    vim.schedule(function()
      callback(nil, result)
      if notify_reply_callback then
        notify_reply_callback(id)
      end
    end)
  end

  function server.request(method, params, callback, notify_reply_callback)
    next_id = next_id + 1
    record("request", method, params)
    local result = vim.NIL
    if method == "initialize" then
      result = {
        capabilities = {
          textDocumentSync = { openClose = true, change = 1 },
          inlineCompletionProvider = true,
          executeCommandProvider = { commands = { "repo-assistant.accept" } },
        },
        serverInfo = { name = "fake", version = "1" },
      }
    elseif method == "textDocument/inlineCompletion" then
      local here = { start = params.position, ["end"] = params.position }
      local items = {}
      for _, item in ipairs(M.items) do
        table.insert(items, {
          insertText = item.text,
          range = here,
          command = {
            title = "repo-assistant: accepted",
            command = "repo-assistant.accept",
            arguments = { { id = item.id } },
          },
        })
      end
      result = { items = items }
    end
    reply(callback, notify_reply_callback, next_id, result)
    return true, next_id
  end

  function server.notify(method, params)
    record("notification", method, params)
    if method == "initialized" then
      vim.schedule(function()
        dispatchers.notification("$/assistant/status",
          { state = "ready", model = "/models/fake-model", message = "", eval = vim.NIL })
      end)
    elseif method == "exit" then
      closing = true
      vim.schedule(function()
        dispatchers.on_exit(0, 0)
      end)
    end
    return true
  end

  function server.is_closing()
    return closing
  end

  function server.terminate()
    closing = true
  end

  return server
end

return M
