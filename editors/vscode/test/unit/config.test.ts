/** Settings: defaults as package.json declares them, bad values, server command lines, finding the program. */

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import {
    DEFAULTS,
    SECTION,
    cliCommand,
    expandServerPath,
    findExecutable,
    ghostTextEnabled,
    notFoundMessage,
    readSettings,
    serverCommand,
    toggleTarget,
} from '../../src/config';

const root = path.resolve(__dirname, '../../..');

interface ManifestProperty {
    default?: unknown;
    description?: string;
    markdownDescription?: string;
}

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, ManifestProperty> } };
};
const properties = manifest.contributes.configuration.properties;

function settingsFrom(values: Record<string, unknown>) {
    return readSettings({ get: <T>(key: string) => values[key] as T | undefined });
}

describe('settings', () => {
    test('package.json declares every setting with a description and the default the code uses', () => {
        assert.deepEqual(Object.keys(properties).sort(), [
            `${SECTION}.disabledLanguages`, `${SECTION}.enable`, `${SECTION}.serverArgs`, `${SECTION}.serverPath`,
            `${SECTION}.trace.server`,
        ]);
        for (const [key, property] of Object.entries(properties)) {
            const description = property.markdownDescription ?? property.description ?? '';
            assert.ok(description.length > 20, `${key} has a description`);
            assert.ok('default' in property, `${key} has a default`);
        }
        for (const [key, value] of Object.entries(DEFAULTS)) {
            assert.deepEqual(properties[`${SECTION}.${key}`]?.default, value, `default of ${key}`);
        }
        assert.equal(properties[`${SECTION}.trace.server`]?.default, 'off');
    });

    test('unset settings read as the defaults', () => {
        assert.deepEqual(settingsFrom({}), DEFAULTS);
    });

    test('values of the wrong type fall back to the default', () => {
        assert.deepEqual(settingsFrom({ serverPath: 42, serverArgs: ['--x', 1], enable: 'no', disabledLanguages: 'go' }),
            DEFAULTS);
        assert.equal(settingsFrom({ serverPath: '   ' }).serverPath, 'assistant');
    });

    test('set values are used', () => {
        const settings = settingsFrom({ serverPath: ' ~/ra/.venv/bin/assistant ', serverArgs: ['--backend', 'llama-cpp'],
            enable: false, disabledLanguages: ['markdown'] });
        assert.deepEqual(settings, { serverPath: '~/ra/.venv/bin/assistant', serverArgs: ['--backend', 'llama-cpp'],
            enable: false, disabledLanguages: ['markdown'] });
    });

    test('ghost text is on when enabled and the language is not disabled', () => {
        assert.equal(ghostTextEnabled(DEFAULTS, 'python'), true);
        assert.equal(ghostTextEnabled(DEFAULTS, 'git-commit'), false);
        assert.equal(ghostTextEnabled({ ...DEFAULTS, enable: false }, 'python'), false);
        assert.equal(ghostTextEnabled({ ...DEFAULTS, disabledLanguages: ['python'] }, 'python'), false);
    });

    test('toggling writes where the value in force is set', () => {
        assert.equal(toggleTarget(undefined), 'global');
        assert.equal(toggleTarget({ globalValue: false }), 'global');
        assert.equal(toggleTarget({ globalValue: true, workspaceValue: false }), 'workspace');
    });
});

describe('command lines', () => {
    const folder = path.join(path.sep, 'work', 'repo');
    const home = path.join(path.sep, 'home', 'me');

    test('the server is `assistant serve [serverArgs] --stdio` in the workspace folder', () => {
        assert.deepEqual(serverCommand(DEFAULTS, folder, home), { command: 'assistant', args: ['serve', '--stdio'], cwd: folder });
        assert.deepEqual(serverCommand({ ...DEFAULTS, serverArgs: ['--log-file', '/tmp/a.log'] }, folder, home).args,
            ['serve', '--log-file', '/tmp/a.log', '--stdio']);
    });

    test('train and stats run the same program', () => {
        assert.deepEqual(cliCommand({ ...DEFAULTS, serverPath: '/opt/ra/bin/assistant' }, folder, home, ['stats', '--repo', folder]),
            { command: '/opt/ra/bin/assistant', args: ['stats', '--repo', folder], cwd: folder });
    });

    test('serverPath: names stay names; ~, ${workspaceFolder} and relative paths are expanded', () => {
        assert.equal(expandServerPath('assistant', folder, home), 'assistant');
        assert.equal(expandServerPath('/opt/ra/bin/assistant', folder, home), '/opt/ra/bin/assistant');
        assert.equal(expandServerPath('~/ra/.venv/bin/assistant', folder, home), path.join(home, 'ra/.venv/bin/assistant'));
        assert.equal(expandServerPath('.venv/bin/assistant', folder, home), path.join(folder, '.venv/bin/assistant'));
        assert.equal(expandServerPath('${workspaceFolder}/.venv/bin/assistant', folder, home),
            path.join(folder, '.venv/bin/assistant'));
    });

    test('the message for a missing program names the setting that fixes it', () => {
        assert.match(notFoundMessage('assistant'), /`assistant` is not on PATH.*repoAssistant\.serverPath/);
        assert.match(notFoundMessage('/nope/assistant'), /`\/nope\/assistant` is not an executable file.*repoAssistant\.serverPath/);
    });
});

describe('findExecutable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-exe-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const program = path.join(bin, 'assistant');
    fs.writeFileSync(program, '#!/bin/sh\n');
    fs.chmodSync(program, 0o755);
    const notExecutable = path.join(bin, 'notes');
    fs.writeFileSync(notExecutable, 'text\n');
    fs.chmodSync(notExecutable, 0o644);
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    test('finds a name on PATH', () => {
        const PATH = [path.join(dir, 'missing'), bin].join(path.delimiter);
        assert.equal(findExecutable('assistant', { PATH }, 'linux'), program);
    });

    test('an absolute path is itself when it is an executable file', () => {
        assert.equal(findExecutable(program, {}, 'linux'), program);
        assert.equal(findExecutable(bin, {}, 'linux'), undefined, 'a directory');
        assert.equal(findExecutable(path.join(bin, 'absent'), {}, 'linux'), undefined);
    });

    test('a file without any execute bit is not run (not even by root)', () => {
        assert.equal(findExecutable(notExecutable, {}, 'linux'), undefined);
    });

    test('nothing on PATH gives undefined', () => {
        assert.equal(findExecutable('assistant', { PATH: path.join(dir, 'missing') }, 'linux'), undefined);
        assert.equal(findExecutable('assistant', {}, 'linux'), undefined);
    });

    test('on Windows the extensions of PATHEXT are tried', () => {
        const exe = path.join(bin, 'tool.EXE');
        fs.writeFileSync(exe, '');
        assert.equal(findExecutable('tool', { PATH: bin, PATHEXT: '.COM;.EXE' }, 'win32'), exe);
    });
});
