/** The wire contract: request params, item fields, feedback payloads, UTF-16 lengths, status notifications. */

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InlineCompletionItem } from 'vscode-languageserver-protocol';
import {
    ACCEPT_COMMAND,
    clampAcceptedLength,
    completionIdOf,
    didPartiallyAcceptParams,
    didShowParams,
    executeCommandParams,
    inlineCompletionParams,
    insertTextOf,
    itemsOf,
    parseStatus,
    utf16Length,
} from '../../src/protocol';

/** An item as the server sends it. */
function item(text: string, id = 'c0ffee'): InlineCompletionItem {
    return {
        insertText: text,
        range: { start: { line: 3, character: 7 }, end: { line: 3, character: 7 } },
        command: { title: 'repo-assistant: accepted', command: ACCEPT_COMMAND, arguments: [{ id }] },
    };
}

describe('inline completion request', () => {
    test('uses the LSP 3.18 trigger kinds: Invoked 1, Automatic 2', () => {
        assert.deepEqual(inlineCompletionParams('file:///w/a.py', { line: 2, character: 5 }, false), {
            textDocument: { uri: 'file:///w/a.py' },
            position: { line: 2, character: 5 },
            context: { triggerKind: 2 },
        });
        assert.equal(inlineCompletionParams('file:///w/a.py', { line: 0, character: 0 }, true).context.triggerKind, 1);
    });

    test('items are read from a list, an array, or nothing', () => {
        const a = item('x = 1');
        assert.deepEqual(itemsOf({ items: [a] }), [a]);
        assert.deepEqual(itemsOf([a]), [a]);
        assert.deepEqual(itemsOf(null), []);
    });

    test('the text of an item is its insertText string or snippet value', () => {
        assert.equal(insertTextOf(item('return value')), 'return value');
        assert.equal(insertTextOf({ insertText: { kind: 'snippet', value: 'f($1)' } }), 'f($1)');
    });

    test('the completion id comes from the command arguments', () => {
        assert.equal(completionIdOf(item('a', 'abc123')), 'abc123');
        assert.equal(completionIdOf({}), undefined);
        assert.equal(completionIdOf({ command: { title: '', command: ACCEPT_COMMAND } }), undefined);
        assert.equal(completionIdOf({ command: { title: '', command: ACCEPT_COMMAND, arguments: ['abc'] } }), undefined);
        assert.equal(completionIdOf({ command: { title: '', command: ACCEPT_COMMAND, arguments: [{ id: 7 }] } }), undefined);
    });
});

describe('UTF-16 lengths', () => {
    test('count code units, as LSP does: an emoji is two, a CJK character one, an accented letter one', () => {
        assert.equal(utf16Length('abc'), 3);
        assert.equal(utf16Length('😀'), 2);
        assert.equal(utf16Length('変数'), 2);
        assert.equal(utf16Length('é'), 1);
        assert.equal(utf16Length('x = "😀"'), 8);
    });

    test('an accepted length is clamped to the item and never splits a surrogate pair', () => {
        const emoji = item('a😀b'); // a, high, low, b: 4 units
        assert.equal(clampAcceptedLength(emoji, 1), 1);
        assert.equal(clampAcceptedLength(emoji, 2), 1, 'half of the emoji is not accepted');
        assert.equal(clampAcceptedLength(emoji, 3), 3);
        assert.equal(clampAcceptedLength(emoji, 99), 4);
        assert.equal(clampAcceptedLength(emoji, -3), 0);
        assert.equal(clampAcceptedLength(emoji, 2.7), 1);
        assert.equal(clampAcceptedLength(emoji, Number.NaN), 0);
    });
});

describe('feedback payloads', () => {
    test('didShowCompletion carries the item as received', () => {
        const a = item('return value * 2');
        assert.deepEqual(didShowParams(a), { item: a });
        assert.equal(didShowParams(a).item, a);
    });

    test('didPartiallyAcceptCompletion carries the item and the accepted UTF-16 length', () => {
        const a = item('變數 = 1');
        assert.deepEqual(didPartiallyAcceptParams(a, 2), { item: a, acceptedLength: 2 });
        assert.deepEqual(didPartiallyAcceptParams(a, 40), { item: a, acceptedLength: 6 });
    });

    test('the accept command becomes workspace/executeCommand params without its title', () => {
        const command = item('x', 'id-1').command;
        assert.ok(command);
        assert.deepEqual(executeCommandParams(command), { command: ACCEPT_COMMAND, arguments: [{ id: 'id-1' }] });
        assert.deepEqual(executeCommandParams({ title: 't', command: 'other' }), { command: 'other', arguments: [] });
    });
});

describe('$/assistant/status', () => {
    test('reads a full notification', () => {
        const evaluation = { verdict: 'better', heldout_examples: 12 };
        assert.deepEqual(
            parseStatus({ state: 'ready', model: 'tiny-nano + /w/.assistant/model', message: '', eval: evaluation }),
            { state: 'ready', model: 'tiny-nano + /w/.assistant/model', message: '', eval: evaluation },
        );
    });

    test('reads missing or mistyped fields as empty', () => {
        assert.deepEqual(parseStatus({ state: 'loading' }), { state: 'loading', model: '', message: '', eval: null });
        assert.deepEqual(parseStatus({ state: 'error', model: 3, message: ['x'], eval: 'text' }),
            { state: 'error', model: '', message: '', eval: null });
    });

    test('ignores what is not a status', () => {
        assert.equal(parseStatus(null), undefined);
        assert.equal(parseStatus('ready'), undefined);
        assert.equal(parseStatus({ state: 'sleeping' }), undefined);
        assert.equal(parseStatus({ model: 'x' }), undefined);
    });
});
