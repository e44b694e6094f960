-- repo-assistant: defines `:Assistant`; everything else starts with require("assistant").setup().
if vim.g.loaded_assistant then
  return
end
vim.g.loaded_assistant = 1

vim.api.nvim_create_user_command("Assistant", function(opts)
  require("assistant.commands").run(opts)
end, {
  nargs = "*",
  complete = function(arglead, cmdline)
    return require("assistant.commands").complete(arglead, cmdline)
  end,
  desc = "repo-assistant: status | toggle [buffer] | start | stop | restart | trust | untrust | train [ARGS] | "
    .. "stats [ARGS]",
})
