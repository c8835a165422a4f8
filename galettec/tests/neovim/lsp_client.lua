-- Drives Neovim's own LSP client (0.7 API) against `galettec lsp` for
-- galettec/tests/neovim.rs: opens the chain, collects the diagnostics Neovim
-- got, jumps to the definition of an NF source with `vim.lsp.buf.definition()`
-- and writes what it saw as JSON. Inputs come from the environment:
--   GALETTE_NVIM_GALETTEC  the galettec binary
--   GALETTE_NVIM_CHAIN     the .gal file to open
--   GALETTE_NVIM_OUT       where to write the JSON
-- Whatever happens, Neovim quits at the end: the Rust side only reads the file.

local report = { diagnostics = {}, notifications = {} }

-- Headless Neovim prints notifications nowhere useful; keep them for the
-- report, since "method not supported" and friends only show up here.
vim.notify = function(msg, level)
  table.insert(report.notifications, { message = tostring(msg), level = level })
end

local function env(name)
  local value = os.getenv(name)
  assert(value and value ~= "", name .. " is not set")
  return value
end

-- `vim.wait` returns false on timeout; say which step timed out.
local function wait_for(what, seconds, condition)
  if not vim.wait(seconds * 1000, condition, 50) then
    error("timed out after " .. seconds .. " s waiting for " .. what)
  end
end

local function start_server(galettec, chain)
  local id = vim.lsp.start_client({
    name = "galette",
    cmd = { galettec, "lsp" },
    root_dir = vim.fn.fnamemodify(chain, ":h"),
  })
  assert(id, "vim.lsp.start_client returned nil")
  return id
end

-- 0.7.2 keeps the LSP code both at the top level (`code`) and, deprecated,
-- in `user_data.lsp.code`; record both so the test shows where it came from.
local function record_diagnostics(bufnr)
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local lsp = d.user_data and d.user_data.lsp or {}
    table.insert(report.diagnostics, {
      message = d.message,
      lnum = d.lnum,
      col = d.col,
      severity = d.severity,
      code = d.code or vim.NIL,
      user_data_code = lsp.code or vim.NIL,
    })
  end
end

-- Puts the cursor on the name after `std.` in the line declaring `nf NAME`.
local function cursor_on_nf_source(name)
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  for i, line in ipairs(lines) do
    if line:match("^nf%s+" .. name .. "%s") then
      local start = line:find("std." .. name, 1, true)
      assert(start, "no std." .. name .. " in: " .. line)
      -- `start` is 1-based and points at `s`; the cursor column is 0-based.
      vim.api.nvim_win_set_cursor(0, { i, start - 1 + #"std." })
      report.definition_from = { line = i - 1, col = start - 1 + #"std." }
      return
    end
  end
  error("no `nf " .. name .. "` line")
end

local function go_to_definition()
  local before = vim.api.nvim_buf_get_name(0)
  vim.lsp.buf.definition()
  wait_for("the definition jump", 20, function()
    return vim.api.nvim_buf_get_name(0) ~= before
  end)
  local cursor = vim.api.nvim_win_get_cursor(0)
  report.definition = {
    buffer = vim.api.nvim_buf_get_name(0),
    -- 0-based like LSP positions; `nvim_win_get_cursor` gives (1-based, 0-based).
    line = cursor[1] - 1,
    col = cursor[2],
  }
end

local function run()
  local galettec = env("GALETTE_NVIM_GALETTEC")
  local chain = env("GALETTE_NVIM_CHAIN")
  local id = start_server(galettec, chain)
  vim.cmd("edit " .. vim.fn.fnameescape(chain))
  assert(vim.lsp.buf_attach_client(0, id), "buf_attach_client failed")
  -- The server publishes after didOpen; the buffer's diagnostics stay empty
  -- until Neovim has handled that notification.
  wait_for("diagnostics", 20, function()
    return #vim.diagnostic.get(0) > 0
  end)
  record_diagnostics(0)
  cursor_on_nf_source("acl")
  go_to_definition()
end

local ok, err = pcall(run)
if not ok then
  report.error = tostring(err)
end

local function write_report()
  local out = os.getenv("GALETTE_NVIM_OUT")
  return out and vim.fn.writefile({ vim.fn.json_encode(report) }, out) == 0
end

local wrote, result = pcall(write_report)
local written = wrote and result
-- Exit status 1 when there is no report to read, so the test says so.
if written then
  vim.cmd("qa!")
else
  vim.cmd("cquit!")
end
