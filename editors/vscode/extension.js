'use strict';
// Starts `galettec lsp` (over stdio) for `gal` documents. Highlighting is
// the grammar's and works without the server.

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { SECTION, PATH_SETTING, resolveServer } = require('./server');

/** The client's id: the library reads `galette.trace.server` through it. */
const CLIENT_ID = SECTION;
const CLIENT_NAME = 'Galette language server';
const RESTART_COMMAND = 'galette.restartServer';
const OPEN_SETTINGS = 'Open Settings';

let client; // the running (or starting) client, if any
let outputChannel; // one for every client, so that restarts do not add channels
let queue = Promise.resolve(); // starts and stops, one after the other

/** Runs `task` after the starts and stops queued before it. */
function enqueue(task) {
  queue = queue.then(task, task);
  return queue;
}

async function start() {
  const setting = vscode.workspace.getConfiguration(SECTION).get(PATH_SETTING, '');
  const resolved = resolveServer({ setting, envPath: process.env.PATH });
  if (resolved.error) {
    outputChannel.error(resolved.error);
    // Not awaited: the message stays until the user closes it.
    vscode.window.showErrorMessage(resolved.error, OPEN_SETTINGS).then((choice) => {
      if (choice === OPEN_SETTINGS) {
        vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.${PATH_SETTING}`);
      }
    });
    return;
  }
  const serverOptions = { command: resolved.path, args: ['lsp'], transport: TransportKind.stdio };
  const clientOptions = { documentSelector: [{ language: 'gal' }], outputChannel };
  client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
  try {
    await client.start();
  } catch {
    // The client has shown why (and logged it in the output channel).
  }
}

async function stop() {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch {
      // It was not running (it failed to start): nothing to stop.
    }
  }
}

function restart() {
  return enqueue(async () => {
    await stop();
    await start();
  });
}

function activate(context) {
  outputChannel = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  context.subscriptions.push(
    outputChannel,
    vscode.commands.registerCommand(RESTART_COMMAND, restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.${PATH_SETTING}`)) {
        return restart();
      }
      return undefined;
    }),
  );
  return enqueue(start);
}

function deactivate() {
  return enqueue(stop);
}

module.exports = { activate, deactivate, CLIENT_ID, RESTART_COMMAND };
