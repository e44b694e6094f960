--- Pure text helpers: how much of a suggestion "next word" and "next line" take, position encodings,
--- and the few API calls whose form differs between Neovim 0.10 and 0.11+.

local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- The next word of `s`: leading whitespace (newlines included), then a run of word characters or a run of
--- punctuation. Bytes of multibyte characters count as word characters, so no character is ever split.
---@param s string
---@return string
function M.next_word(s)
  return s:match("^%s*[%w_\128-\255]+") or s:match("^%s*[^%w_%s\128-\255]+") or s
end

--- The rest of the current line of `s`; when `s` starts at a line break, that break and the next line.
---@param s string
---@return string
function M.next_line(s)
  local line = s:match("^[^\n]+")
  if line then
    return line
  end
  return s:match("^\n[^\n]*") or s
end

--- Length of `s` in UTF-16 code units (the unit of `acceptedLength`).
---@param s string
---@return integer
function M.utf16_len(s)
  if has_011 then
    return vim.str_utfindex(s, "utf-16")
  end
  local _, utf16 = vim.str_utfindex(s)
  return utf16
end

--- Byte offset in `line` of the position `index`, counted in `encoding` units.
---@param line string
---@param index integer
---@param encoding string "utf-8", "utf-16" or "utf-32"
---@return integer
function M.byte_col(line, index, encoding)
  if encoding == "utf-8" then
    return math.min(index, #line)
  end
  if has_011 then
    return vim.str_byteindex(line, encoding, index, false)
  end
  local ok, col = pcall(vim.str_byteindex, line, index, encoding == "utf-16")
  return ok and col or #line
end

--- `client:request` (0.11+) or `client.request` (0.10).
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- `client:notify` (0.11+) or `client.notify` (0.10).
function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- `client:cancel_request` (0.11+) or `client.cancel_request` (0.10).
function M.cancel(client, id)
  if has_011 then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

--- `client:is_stopped` (0.11+) or `client.is_stopped` (0.10).
function M.is_stopped(client)
  if has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- `client:stop` (0.11+) or `client.stop` (0.10).
function M.stop(client)
  if has_011 then
    return client:stop()
  end
  return client.stop()
end

return M
