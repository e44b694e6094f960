/**
 * The ghost text provider, with the `vscode` module and the language client faked: when it asks the server,
 * with what params, and that what it returns is remembered for the feedback.
 */

import '../fakes/register';
import * as assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient/node';
import type { InlineCompletionItem } from 'vscode-languageserver-protocol';
import { GhostTextProvider } from '../../src/inlineCompletion';
import { ACCEPT_COMMAND } from '../../src/protocol';
import { CompletionFeedback } from '../../src/telemetry';
import * as fake from '../fakes/vscode';

const FOLDER: fake.FakeFolder = { uri: { toString: () => 'file:///w/shop', fsPath: '/w/shop' }, name: 'shop', index: 0 };
const DOC_URI = 'file:///w/shop/pkg/orders.py';

const SERVER_ITEM: InlineCompletionItem = {
    insertText: "value = request.get('id')",
    range: { start: { line: 4, character: 4 }, end: { line: 4, character: 4 } },
    command: { title: 'repo-assistant: accepted', command: ACCEPT_COMMAND, arguments: [{ id: 'c1' }] },
};

/** A language client that answers inline completion requests with `answer` and records them. */
function fakeClient(answer: unknown) {
    const requests: { method: string; params: unknown }[] = [];
    const notifications: { method: string; params: unknown }[] = [];
    const log: string[] = [];
    const client = {
        code2ProtocolConverter: { asUri: (uri: { toString(): string }) => uri.toString() },
        protocol2CodeConverter: {
            asInlineCompletionItem: (item: InlineCompletionItem) => ({ converted: true, insertText: item.insertText, command: item.command }),
        },
        outputChannel: { appendLine: (line: string) => log.push(line) },
        sendRequest: (type: { method: string }, params: unknown) => {
            requests.push({ method: type.method, params });
            return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
        },
        sendNotification: (type: { method: string }, params: unknown) => {
            notifications.push({ method: type.method, params });
            return Promise.resolve();
        },
    };
    return { client: client as unknown as BaseLanguageClient, requests, notifications, log };
}

function doc(languageId = 'python'): vscode.TextDocument {
    return { uri: { toString: () => DOC_URI }, languageId } as unknown as vscode.TextDocument;
}

const AT = { line: 4, character: 4 } as vscode.Position;
const TOKEN = { isCancellationRequested: false } as vscode.CancellationToken;
const AUTOMATIC = { triggerKind: fake.InlineCompletionTriggerKind.Automatic, selectedCompletionInfo: undefined } as vscode.InlineCompletionContext;
const INVOKED = { triggerKind: fake.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined } as vscode.InlineCompletionContext;

describe('GhostTextProvider', () => {
    beforeEach(() => {
        fake.state.settings = {};
        fake.state.folders = new Map([[DOC_URI, FOLDER]]);
    });

    test('asks the server with 3.18 params and returns the converted items', async () => {
        const { client, requests } = fakeClient({ items: [SERVER_ITEM] });
        const provider = new GhostTextProvider(client, FOLDER as unknown as vscode.WorkspaceFolder, new CompletionFeedback());
        const items = await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN);
        assert.deepEqual(requests, [{
            method: 'textDocument/inlineCompletion',
            params: { textDocument: { uri: DOC_URI }, position: { line: 4, character: 4 }, context: { triggerKind: 2 } },
        }]);
        assert.equal(items?.length, 1);
        assert.equal((items?.[0] as unknown as { converted: boolean }).converted, true);
        await provider.provideInlineCompletionItems(doc(), AT, INVOKED, TOKEN);
        assert.deepEqual((requests[1]?.params as { context: unknown }).context, { triggerKind: 1 });
    });

    test('what VS Code shows is reported with the item the server sent', async () => {
        const { client, notifications } = fakeClient([SERVER_ITEM]);
        const provider = new GhostTextProvider(client, FOLDER as unknown as vscode.WorkspaceFolder, new CompletionFeedback());
        const [shown] = (await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN)) ?? [];
        assert.ok(shown);
        provider.handleDidShowCompletionItem(shown);
        provider.handleDidPartiallyAcceptCompletionItem(shown, 6);
        provider.handleDidPartiallyAcceptCompletionItem(shown, { acceptedLength: 6 });
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(notifications, [
            { method: 'textDocument/didShowCompletion', params: { item: SERVER_ITEM } },
            { method: 'textDocument/didPartiallyAcceptCompletion', params: { item: SERVER_ITEM, acceptedLength: 6 } },
        ]);
    });

    test('does not ask when ghost text is off, the language is disabled, or the suggest widget is open', async () => {
        const { client, requests } = fakeClient([SERVER_ITEM]);
        const provider = new GhostTextProvider(client, FOLDER as unknown as vscode.WorkspaceFolder, new CompletionFeedback());
        fake.state.settings = { 'repoAssistant.enable': false };
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN), undefined);
        fake.state.settings = { 'repoAssistant.disabledLanguages': ['python'] };
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN), undefined);
        fake.state.settings = {};
        const suggesting = { ...AUTOMATIC, selectedCompletionInfo: { range: {}, text: 'get' } } as unknown as vscode.InlineCompletionContext;
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, suggesting, TOKEN), undefined);
        assert.deepEqual(requests, []);
    });

    test('leaves a file of a nested workspace folder to that folder\'s server', async () => {
        const { client, requests } = fakeClient([SERVER_ITEM]);
        const provider = new GhostTextProvider(client, FOLDER as unknown as vscode.WorkspaceFolder, new CompletionFeedback());
        fake.state.folders.set(DOC_URI, { uri: { toString: () => 'file:///w/shop/pkg', fsPath: '/w/shop/pkg' }, name: 'pkg', index: 1 });
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN), undefined);
        assert.deepEqual(requests, []);
    });

    test('a failed request is logged and shows nothing; a cancelled one is not logged', async () => {
        const { client, log } = fakeClient(new Error('Request textDocument/inlineCompletion failed'));
        const provider = new GhostTextProvider(client, FOLDER as unknown as vscode.WorkspaceFolder, new CompletionFeedback());
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, TOKEN), undefined);
        assert.deepEqual(log, ['inline completion failed: Request textDocument/inlineCompletion failed']);
        const cancelled = { isCancellationRequested: true } as vscode.CancellationToken;
        assert.equal(await provider.provideInlineCompletionItems(doc(), AT, AUTOMATIC, cancelled), undefined);
        assert.equal(log.length, 1);
    });
});
