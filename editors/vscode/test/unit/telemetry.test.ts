/**
 * Feedback to the server: each notification carries the item as the server sent it, goes to the server that
 * sent it, and is sent once; the accept command reaches its server exactly once.
 */

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InlineCompletionItem, NotificationType, RequestType } from 'vscode-languageserver-protocol';
import { ACCEPT_COMMAND, LspConnection } from '../../src/protocol';
import { CompletionFeedback, acceptedLengthOf } from '../../src/telemetry';

/** A connection that records what it is sent, and can be made to fail. */
class RecordingConnection implements LspConnection {
    readonly sent: { method: string; params: unknown }[] = [];
    failing = false;

    sendRequest<P, R, E>(type: RequestType<P, R, E>, params: P): Promise<R> {
        return this.record(type.method, params) as Promise<R>;
    }

    sendNotification<P>(type: NotificationType<P>, params: P): Promise<void> {
        return this.record(type.method, params) as Promise<void>;
    }

    private record(method: string, params: unknown): Promise<unknown> {
        if (this.failing) {
            return Promise.reject(new Error('Client is not running'));
        }
        this.sent.push({ method, params });
        return Promise.resolve(null);
    }
}

function serverItem(text: string, id: string): InlineCompletionItem {
    return {
        insertText: text,
        range: { start: { line: 0, character: 4 }, end: { line: 0, character: 4 } },
        command: { title: 'repo-assistant: accepted', command: ACCEPT_COMMAND, arguments: [{ id }] },
    };
}

/** What VS Code hands back: its own object for the item (here a stand-in with the same text). */
function shownItem(item: InlineCompletionItem): object {
    return { insertText: item.insertText, command: item.command };
}

describe('CompletionFeedback', () => {
    test('didShowCompletion goes to the server that made the item, with the item it sent', async () => {
        const a = new RecordingConnection();
        const b = new RecordingConnection();
        const feedback = new CompletionFeedback();
        const fromA = serverItem('value = 1', 'id-a');
        const fromB = serverItem('return 2', 'id-b');
        const shownA = shownItem(fromA);
        const shownB = shownItem(fromB);
        feedback.remember(shownA, fromA, a);
        feedback.remember(shownB, fromB, b);
        await feedback.shown(shownB);
        assert.deepEqual(a.sent, []);
        assert.deepEqual(b.sent, [{ method: 'textDocument/didShowCompletion', params: { item: fromB } }]);
    });

    test('items it was not told about are not reported', async () => {
        const a = new RecordingConnection();
        const feedback = new CompletionFeedback();
        await feedback.shown({});
        await feedback.partiallyAccepted({}, 3);
        assert.deepEqual(a.sent, []);
    });

    test('a partial accept reported twice (as a number, then as PartialAcceptInfo) is sent once', async () => {
        const a = new RecordingConnection();
        const feedback = new CompletionFeedback();
        const item = serverItem('value = request.get(name)', 'id-1');
        const shown = shownItem(item);
        feedback.remember(shown, item, a);
        await feedback.partiallyAccepted(shown, 6);
        await feedback.partiallyAccepted(shown, { kind: 1, acceptedLength: 6 } as { acceptedLength: number });
        await feedback.partiallyAccepted(shown, 8);
        await feedback.partiallyAccepted(shown, { acceptedLength: 8 });
        assert.deepEqual(a.sent, [
            { method: 'textDocument/didPartiallyAcceptCompletion', params: { item, acceptedLength: 6 } },
            { method: 'textDocument/didPartiallyAcceptCompletion', params: { item, acceptedLength: 8 } },
        ]);
    });

    test('acceptedLength is in UTF-16 code units of the insert text, clamped to it', async () => {
        const a = new RecordingConnection();
        const feedback = new CompletionFeedback();
        const item = serverItem('s = "😀"', 'id-e');
        const shown = shownItem(item);
        feedback.remember(shown, item, a);
        await feedback.partiallyAccepted(shown, 6); // s = "\ud83d: half the emoji
        await feedback.partiallyAccepted(shown, 100);
        assert.deepEqual(a.sent.map((m) => (m.params as { acceptedLength: number }).acceptedLength), [5, 8]);
    });

    test('accept runs repo-assistant.accept on the server that made the item, exactly once', async () => {
        const a = new RecordingConnection();
        const b = new RecordingConnection();
        const feedback = new CompletionFeedback();
        const fromA = serverItem('x', 'id-a');
        const fromB = serverItem('y', 'id-b');
        feedback.remember(shownItem(fromA), fromA, a);
        feedback.remember(shownItem(fromB), fromB, b);
        // VS Code runs the item's command with the item's arguments.
        await feedback.accepted(...((fromB.command?.arguments ?? []) as unknown[]));
        assert.deepEqual(a.sent, []);
        assert.deepEqual(b.sent, [
            { method: 'workspace/executeCommand', params: { command: ACCEPT_COMMAND, arguments: [{ id: 'id-b' }] } },
        ]);
    });

    test('an accept for an unknown completion is logged, not sent', async () => {
        const a = new RecordingConnection();
        const logged: string[] = [];
        const feedback = new CompletionFeedback((message) => logged.push(message));
        const item = serverItem('x', 'id-a');
        feedback.remember(shownItem(item), item, a);
        await feedback.accepted({ id: 'from-a-server-that-restarted' });
        await feedback.accepted();
        assert.deepEqual(a.sent, []);
        assert.equal(logged.length, 2);
        assert.match(logged[0] ?? '', /unknown completion/);
    });

    test('a server that went away makes feedback a log line, not an error', async () => {
        const a = new RecordingConnection();
        a.failing = true;
        const logged: string[] = [];
        const feedback = new CompletionFeedback((message) => logged.push(message));
        const item = serverItem('x', 'id-a');
        const shown = shownItem(item);
        feedback.remember(shown, item, a);
        await feedback.shown(shown);
        await feedback.partiallyAccepted(shown, 1);
        await feedback.accepted({ id: 'id-a' });
        assert.equal(logged.length, 3);
        assert.ok(logged.every((line) => line.includes('not delivered: Client is not running')), logged.join('\n'));
    });

    test('old completion ids are forgotten, recent ones kept', async () => {
        const a = new RecordingConnection();
        const feedback = new CompletionFeedback();
        for (let i = 0; i < 300; i++) {
            const item = serverItem('x', `id-${i}`);
            feedback.remember(shownItem(item), item, a);
        }
        await feedback.accepted({ id: 'id-0' });
        await feedback.accepted({ id: 'id-299' });
        assert.deepEqual(a.sent.map((m) => m.params), [{ command: ACCEPT_COMMAND, arguments: [{ id: 'id-299' }] }]);
    });
});

describe('acceptedLengthOf', () => {
    test('reads both shapes of the partial-accept argument', () => {
        assert.equal(acceptedLengthOf(4), 4);
        assert.equal(acceptedLengthOf({ kind: 1, acceptedLength: 7 }), 7);
        assert.equal(acceptedLengthOf({ kind: 1 }), undefined);
        assert.equal(acceptedLengthOf('4'), undefined);
        assert.equal(acceptedLengthOf(null), undefined);
    });
});
