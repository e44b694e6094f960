/** The commands the extension registers are the ones package.json contributes, and accept reaches the feedback. */

import '../fakes/register';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type * as vscode from 'vscode';
import type { Servers } from '../../src/client';
import { COMMANDS, registerCommands } from '../../src/commands';
import { ACCEPT_COMMAND } from '../../src/protocol';
import type { CompletionFeedback } from '../../src/telemetry';
import * as fake from '../fakes/vscode';

interface Manifest {
    activationEvents: string[];
    enabledApiProposals: string[];
    capabilities: { untrustedWorkspaces: { supported: boolean } };
    contributes: { commands: { command: string; title: string; category: string }[]; taskDefinitions: { type: string }[] };
}

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as Manifest;

describe('commands', () => {
    test('every contributed command is registered, and accept (the server\'s) is registered but not listed', () => {
        fake.state.commands.clear();
        const context = { subscriptions: [] as { dispose(): void }[] } as unknown as vscode.ExtensionContext;
        const accepted: unknown[][] = [];
        const feedback = { accepted: (...args: unknown[]) => { accepted.push(args); return Promise.resolve(); } };
        registerCommands(context, {
            servers: {} as Servers,
            feedback: feedback as unknown as CompletionFeedback,
            output: {} as vscode.OutputChannel,
        });
        const contributed = manifest.contributes.commands.map((c) => c.command);
        assert.deepEqual([...fake.state.commands.keys()].sort(), [...contributed, ACCEPT_COMMAND].sort());
        assert.deepEqual(Object.values(COMMANDS).sort(), [...contributed, ACCEPT_COMMAND].sort());
        assert.equal(context.subscriptions.length, fake.state.commands.size);
        for (const command of manifest.contributes.commands) {
            assert.equal(command.category, 'repo-assistant');
            assert.ok(command.title.length > 0);
        }
        // VS Code runs the item's command with the item's arguments.
        void fake.state.commands.get(ACCEPT_COMMAND)?.({ id: 'c1' });
        assert.deepEqual(accepted, [[{ id: 'c1' }]]);
    });

    test('the manifest activates after startup, in trusted workspaces, and declares the task type and API proposal', () => {
        assert.deepEqual(manifest.activationEvents, ['onStartupFinished']);
        assert.equal(manifest.capabilities.untrustedWorkspaces.supported, false);
        assert.deepEqual(manifest.contributes.taskDefinitions.map((t) => t.type), ['repo-assistant']);
        assert.deepEqual(manifest.enabledApiProposals, ['inlineCompletionsAdditions']);
    });
});
