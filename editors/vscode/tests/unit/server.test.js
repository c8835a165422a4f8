'use strict';
// Finding the server's binary (server.js), with fake checks and with real
// files in a temporary directory.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');

const { checkFile, resolveServer } = require('../../server');

/** A check that knows only `files` (path -> what checkFile would say). */
function fakeCheck(files) {
  return (file) => files[file] || 'missing';
}

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galette-vscode-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeFile(file, mode) {
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, mode);
}

test('the setting names an executable file: that file', () => {
  const resolved = resolveServer({
    setting: '/opt/galette/bin/galettec',
    envPath: '/usr/bin',
    check: fakeCheck({ '/opt/galette/bin/galettec': 'executable', '/usr/bin/galettec': 'executable' }),
  });
  assert.deepEqual(resolved, { path: '/opt/galette/bin/galettec' });
});

test('the setting wins over PATH, and ~/ is the home directory', () => {
  const resolved = resolveServer({
    setting: '~/.cargo/bin/galettec',
    envPath: '/usr/bin',
    homeDir: '/home/me',
    check: fakeCheck({ '/home/me/.cargo/bin/galettec': 'executable', '/usr/bin/galettec': 'executable' }),
  });
  assert.deepEqual(resolved, { path: '/home/me/.cargo/bin/galettec' });
});

test('the setting names a missing file: a message naming the setting and the path', () => {
  const resolved = resolveServer({
    setting: '/nowhere/galettec',
    envPath: '/usr/bin',
    check: fakeCheck({ '/usr/bin/galettec': 'executable' }),
  });
  assert.equal(resolved.path, undefined);
  assert.match(resolved.error, /galette\.server\.path/);
  assert.match(resolved.error, /"\/nowhere\/galettec"/);
  assert.match(resolved.error, /there is no file there/);
  assert.match(resolved.error, /cargo install --path galettec/);
});

test('the setting names a file that is not executable, or a directory: says which', () => {
  const check = fakeCheck({ '/opt/galettec': 'not-executable', '/opt/bin': 'directory' });
  const notExecutable = resolveServer({ setting: '/opt/galettec', envPath: '', check });
  assert.match(notExecutable.error, /galette\.server\.path is "\/opt\/galettec", but that file is not executable/);
  const directory = resolveServer({ setting: '/opt/bin', envPath: '', check });
  assert.match(directory.error, /galette\.server\.path is "\/opt\/bin", but that is a directory/);
});

test('the setting is a relative path: a message', () => {
  const resolved = resolveServer({ setting: 'bin/galettec', envPath: '', check: () => 'executable' });
  assert.match(resolved.error, /galette\.server\.path is "bin\/galettec", which is not an absolute path/);
});

test('the setting is empty: the first galettec on PATH', () => {
  for (const setting of ['', '  ', undefined, null]) {
    const resolved = resolveServer({
      setting,
      envPath: '/usr/local/bin::/home/me/.cargo/bin:/usr/bin',
      check: fakeCheck({
        '/usr/local/bin': 'directory',
        '/home/me/.cargo/bin/galettec': 'executable',
        '/usr/bin/galettec': 'executable',
      }),
    });
    assert.deepEqual(resolved, { path: '/home/me/.cargo/bin/galettec' }, `setting ${JSON.stringify(setting)}`);
  }
});

test('galettec is not on PATH: a message', () => {
  for (const envPath of ['/usr/local/bin:/usr/bin', '', undefined]) {
    const resolved = resolveServer({ setting: '', envPath, check: fakeCheck({ '/usr/bin/galettec': 'not-executable' }) });
    assert.equal(resolved.path, undefined);
    assert.match(resolved.error, /galettec is not on PATH/);
    assert.match(resolved.error, /galette\.server\.path/);
    assert.match(resolved.error, /cargo install --path galettec/);
  }
});

test('real files: a fake PATH directory with an executable galettec', (t) => {
  const dir = tempDir(t);
  const empty = path.join(dir, 'empty');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(empty);
  fs.mkdirSync(bin);
  writeFile(path.join(bin, 'galettec'), 0o755);
  const envPath = [empty, bin].join(path.delimiter);
  assert.deepEqual(resolveServer({ setting: '', envPath }), { path: path.join(bin, 'galettec') });
  assert.match(resolveServer({ setting: '', envPath: empty }).error, /galettec is not on PATH/);
});

test('real files: checkFile and the setting', (t) => {
  const dir = tempDir(t);
  const executable = path.join(dir, 'galettec');
  const plain = path.join(dir, 'galettec.txt');
  writeFile(executable, 0o755);
  writeFile(plain, 0o644);
  assert.equal(checkFile(executable), 'executable');
  assert.equal(checkFile(dir), 'directory');
  assert.equal(checkFile(path.join(dir, 'missing')), 'missing');
  assert.deepEqual(resolveServer({ setting: executable, envPath: '' }), { path: executable });
  assert.match(resolveServer({ setting: path.join(dir, 'missing'), envPath: '' }).error, /there is no file there/);
  // Even for root: a file without any execute bit is not executable.
  assert.equal(checkFile(plain), 'not-executable');
  assert.match(resolveServer({ setting: plain, envPath: '' }).error, /not executable/);
});

test('editors/README.md quotes the messages as they are', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const notOnPath = resolveServer({ setting: '', envPath: '', check: () => 'missing' }).error;
  assert.ok(readme.includes(`\n${notOnPath}\n`), 'the "not on PATH" message');
  const missing = resolveServer({ setting: '/opt/galettec', envPath: '', check: () => 'missing' }).error;
  const quoted = missing.slice(0, missing.indexOf('Install it with') + 'Install it with'.length);
  assert.ok(readme.includes(`\n${quoted} ...\n`), 'the "no file there" message');
});
