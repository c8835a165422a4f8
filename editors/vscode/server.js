'use strict';
// Finds the language server's binary. Free of the `vscode` module, so that
// `node --test` can check it (tests/unit/server.test.js).

const fs = require('fs');
const os = require('os');
const path = require('path');

/** The settings section, the setting naming the binary, the binary's name. */
const SECTION = 'galette';
const PATH_SETTING = 'server.path';
const SERVER_NAME = 'galettec';

const HOW_TO_FIX =
  'Install it with `cargo install --path galettec` in the Galette repository, ' +
  `or set ${SECTION}.${PATH_SETTING} to the galettec binary. Highlighting works without it.`;

/**
 * What is at `file`: 'executable' (a file this process may execute),
 * 'not-executable' (a file without the permission), 'directory' or
 * 'missing'.
 */
function checkFile(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return 'missing';
  }
  if (stat.isDirectory()) {
    return 'directory';
  }
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    return 'not-executable';
  }
  return 'executable';
}

/**
 * The binary to run as `<path> lsp`:
 *
 * - `setting` is `galette.server.path`: when not empty, that file (a leading
 *   `~/` is the home directory), which must be executable;
 * - otherwise the first executable `galettec` in a directory of `envPath`
 *   (the extension host's PATH).
 *
 * `check(file)` says what is at `file` (see `checkFile`). Returns
 * `{ path }`, or `{ error }`: a message for the user that says what is
 * missing and how to fix it.
 */
function resolveServer({ setting, envPath, check = checkFile, homeDir = os.homedir(), platform = process.platform }) {
  const configured = typeof setting === 'string' ? setting.trim() : '';
  if (configured !== '') {
    let file = configured;
    if (file === '~' || file.startsWith('~/')) {
      file = path.join(homeDir, file.slice(1));
    }
    const where = `the setting ${SECTION}.${PATH_SETTING} is "${configured}"`;
    if (!path.isAbsolute(file)) {
      return {
        error: `Galette language server not started: ${where}, which is not an absolute path: set it to the full path of the galettec binary.`,
      };
    }
    const what = check(file);
    if (what === 'executable') {
      return { path: file };
    }
    const problem = {
      missing: 'there is no file there',
      directory: 'that is a directory, not the galettec binary',
      'not-executable': 'that file is not executable',
    }[what] || `that file cannot be used (${what})`;
    return { error: `Galette language server not started: ${where}, but ${problem}. ${HOW_TO_FIX}` };
  }
  const names = platform === 'win32' ? [`${SERVER_NAME}.exe`, SERVER_NAME] : [SERVER_NAME];
  const delimiter = platform === 'win32' ? ';' : ':';
  for (const dir of (envPath || '').split(delimiter)) {
    // An empty entry in PATH is the current directory, which is not where a
    // binary for the editor should come from.
    if (dir === '') {
      continue;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      if (check(file) === 'executable') {
        return { path: file };
      }
    }
  }
  return {
    error:
      `Galette language server not started: ${SERVER_NAME} is not on PATH ` +
      `(the setting ${SECTION}.${PATH_SETTING} is empty, so the extension looks for ${SERVER_NAME} in the ` +
      `directories of VS Code's PATH). ${HOW_TO_FIX}`,
  };
}

module.exports = { SECTION, PATH_SETTING, SERVER_NAME, checkFile, resolveServer };
