'use strict';
// extension.js against a fake `vscode` and a fake language client, and
// package.json's contributions against what the code uses.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');

const root = path.join(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const TransportKind = { stdio: 0, ipc: 1, pipe: 2, socket: 3 };

/**
 * A fake VS Code: `settings` are the configuration values ("galette.server.path"
 * -> value), `choice` is the button the user presses on an error message.
 * Records what the extension does with it.
 */
function fakeVscode({ settings = {}, choice } = {}) {
  const log = {
    read: [],
    errors: [],
    executed: [],
    commands: new Map(),
    configListeners: [],
    channels: [],
    clients: [],
  };
  const vscode = {
    workspace: {
      getConfiguration(section) {
        return {
          get(key, fallback) {
            const name = `${section}.${key}`;
            log.read.push(name);
            return name in settings ? settings[name] : fallback;
          },
        };
      },
      onDidChangeConfiguration(listener) {
        log.configListeners.push(listener);
        return { dispose() {} };
      },
    },
    window: {
      showErrorMessage(message, ...items) {
        const shown = { message, items };
        log.errors.push(shown);
        shown.answered = Promise.resolve(choice);
        return shown.answered;
      },
      createOutputChannel(name, options) {
        const channel = { name, options, lines: [], error: (line) => channel.lines.push(line), dispose() {} };
        log.channels.push(channel);
        return channel;
      },
    },
    commands: {
      registerCommand(name, callback) {
        log.commands.set(name, callback);
        return { dispose() {} };
      },
      executeCommand(...args) {
        log.executed.push(args);
        return Promise.resolve();
      },
    },
  };
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      Object.assign(this, { id, name, serverOptions, clientOptions, started: 0, stopped: 0 });
      log.clients.push(this);
    }
    async start() {
      this.started += 1;
    }
    async stop() {
      this.stopped += 1;
    }
  }
  return { vscode, languageclient: { LanguageClient, TransportKind }, log };
}

/** extension.js, loaded afresh with `fake` in place of `vscode` and the client library. */
function loadExtension(t, fake) {
  const load = Module._load;
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return fake.vscode;
    if (request === 'vscode-languageclient/node') return fake.languageclient;
    return load.call(this, request, ...rest);
  };
  t.after(() => {
    Module._load = load;
  });
  const file = require.resolve(path.join(root, manifest.main));
  delete require.cache[file];
  return require(file);
}

/** A directory with an executable `galettec`, made PATH for the test. */
function fakeServerOnPath(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galette-vscode-'));
  const binary = path.join(dir, 'galettec');
  fs.writeFileSync(binary, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(binary, 0o755);
  const saved = process.env.PATH;
  process.env.PATH = dir;
  t.after(() => {
    process.env.PATH = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return binary;
}

function context() {
  return { subscriptions: [] };
}

/** `affectsConfiguration` for a change of `changed`. */
function change(changed) {
  return { affectsConfiguration: (section) => changed === section || changed.startsWith(`${section}.`) };
}

test('package.json: main, activation, language, grammar', () => {
  assert.ok(fs.existsSync(path.join(root, manifest.main)), `${manifest.main} exists`);
  assert.deepEqual(manifest.activationEvents, ['onLanguage:gal']);
  const [language] = manifest.contributes.languages;
  assert.equal(language.id, 'gal');
  assert.deepEqual(language.extensions, ['.gal']);
  assert.ok(manifest.contributes.grammars.some((g) => g.language === 'gal' && g.scopeName === 'source.gal'));
  assert.ok(fs.existsSync(path.join(root, manifest.contributes.grammars[0].path)));
});

test('package.json: the client library is a dependency, installed, and its VS Code is ours', () => {
  assert.ok(manifest.dependencies['vscode-languageclient']);
  const libraryDir = path.join(root, 'node_modules', 'vscode-languageclient');
  const library = JSON.parse(fs.readFileSync(path.join(libraryDir, 'package.json'), 'utf8'));
  assert.ok(require.resolve('vscode-languageclient/node', { paths: [root] }));
  const least = (range) => range.replace(/^[\^~>=]+/, '').split('.').map(Number);
  const [ours, theirs] = [least(manifest.engines.vscode), least(library.engines.vscode)];
  const cmp = ours[0] - theirs[0] || ours[1] - theirs[1] || ours[2] - theirs[2];
  assert.ok(cmp >= 0, `engines.vscode ${manifest.engines.vscode} allows what ${library.engines.vscode} needs`);
  // vsce packs production dependencies unless .vscodeignore leaves them out.
  const ignored = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n');
  assert.ok(!ignored.some((line) => /^node_modules\/?\*{0,2}$/.test(line.trim())), 'node_modules is packed');
});

test('the server starts as `<galettec on PATH> lsp` over stdio for gal documents', async (t) => {
  const binary = fakeServerOnPath(t);
  const fake = fakeVscode();
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  assert.equal(fake.log.errors.length, 0);
  assert.equal(fake.log.clients.length, 1);
  const [client] = fake.log.clients;
  assert.deepEqual(client.serverOptions, { command: binary, args: ['lsp'], transport: TransportKind.stdio });
  assert.deepEqual(client.clientOptions.documentSelector, [{ language: 'gal' }]);
  assert.equal(client.clientOptions.outputChannel, fake.log.channels[0]);
  assert.deepEqual(fake.log.channels[0].options, { log: true });
  assert.equal(client.started, 1);
  await extension.deactivate();
  assert.equal(client.stopped, 1);
});

test('package.json declares every setting the code reads and the command it registers', async (t) => {
  fakeServerOnPath(t);
  const fake = fakeVscode();
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  const declared = manifest.contributes.configuration.properties;
  // The client library reads `<client id>.trace.server`.
  const read = new Set([...fake.log.read, `${fake.log.clients[0].id}.trace.server`]);
  assert.deepEqual([...read].sort(), ['galette.server.path', 'galette.trace.server']);
  for (const name of read) {
    assert.ok(declared[name], `${name} is declared`);
  }
  assert.equal(declared['galette.server.path'].type, 'string');
  assert.equal(declared['galette.server.path'].default, '');
  assert.deepEqual(declared['galette.trace.server'].enum, ['off', 'messages', 'verbose']);
  assert.deepEqual([...fake.log.commands.keys()], ['galette.restartServer']);
  const commands = manifest.contributes.commands.map((c) => c.command);
  assert.deepEqual(commands, ['galette.restartServer']);
  const [command] = manifest.contributes.commands;
  assert.equal(`${command.category}: ${command.title}`, 'Galette: Restart language server');
  await extension.deactivate();
});

test('a missing binary: an error message with a button that opens the setting, and no client', async (t) => {
  const fake = fakeVscode({ settings: { 'galette.server.path': '/nowhere/galettec' }, choice: 'Open Settings' });
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  assert.equal(fake.log.clients.length, 0);
  assert.equal(fake.log.errors.length, 1);
  const [shown] = fake.log.errors;
  assert.match(shown.message, /galette\.server\.path is "\/nowhere\/galettec", but there is no file there/);
  assert.deepEqual(shown.items, ['Open Settings']);
  await shown.answered;
  await new Promise(setImmediate);
  assert.deepEqual(fake.log.executed, [['workbench.action.openSettings', 'galette.server.path']]);
  assert.deepEqual(fake.log.channels[0].lines, [shown.message]);
  await extension.deactivate();
});

test('galettec not on PATH: the message says so; dismissing it opens nothing', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = path.join(os.tmpdir(), 'galette-vscode-no-such-dir');
  t.after(() => {
    process.env.PATH = saved;
  });
  const fake = fakeVscode();
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  assert.equal(fake.log.clients.length, 0);
  assert.match(fake.log.errors[0].message, /galettec is not on PATH/);
  await fake.log.errors[0].answered;
  await new Promise(setImmediate);
  assert.deepEqual(fake.log.executed, []);
});

test('changing galette.server.path restarts the client; other settings do not', async (t) => {
  fakeServerOnPath(t);
  const fake = fakeVscode();
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  const [listener] = fake.log.configListeners;
  await listener(change('editor.fontSize'));
  await listener(change('galette.trace.server'));
  assert.equal(fake.log.clients.length, 1);
  await listener(change('galette.server.path'));
  assert.equal(fake.log.clients.length, 2);
  assert.equal(fake.log.clients[0].stopped, 1);
  assert.equal(fake.log.clients[1].started, 1);
  await extension.deactivate();
  assert.equal(fake.log.clients[1].stopped, 1);
});

test('galette.restartServer stops the client and starts a new one', async (t) => {
  fakeServerOnPath(t);
  const fake = fakeVscode();
  const extension = loadExtension(t, fake);
  await extension.activate(context());
  await fake.log.commands.get('galette.restartServer')();
  assert.equal(fake.log.clients.length, 2);
  assert.equal(fake.log.clients[0].stopped, 1);
  assert.equal(fake.log.clients[1].started, 1);
  // After a failed start (a client that cannot be stopped), a restart still starts one.
  fake.log.clients[1].stop = async () => {
    throw new Error('Client is not running');
  };
  await fake.log.commands.get('galette.restartServer')();
  assert.equal(fake.log.clients.length, 3);
  assert.equal(fake.log.clients[2].started, 1);
  await extension.deactivate();
});
