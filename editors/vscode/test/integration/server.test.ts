/**
 * The extension's LSP-facing module (`src/protocol.ts`, `src/config.ts`, `src/telemetry.ts`) against the
 * REAL `assistant serve`, over stdio, in a workspace with a trained tiny model: the server command line the
 * extension builds, initialize, the status notifications, one inline completion (which must be what
 * `assistant complete --json` prints for the same saved file), the feedback notifications and the accept
 * command, and what `assistant stats --json` then counts.
 */

import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import {
    DidOpenTextDocumentNotification,
    ExitNotification,
    InitializeRequest,
    InitializedNotification,
    ShutdownRequest,
} from 'vscode-languageserver-protocol';
import { ProtocolConnection, createProtocolConnection } from 'vscode-languageserver-protocol/node';
import { DEFAULTS, serverCommand } from '../../src/config';
import {
    ACCEPT_COMMAND,
    AssistantStatus,
    StatusNotification,
    clampAcceptedLength,
    inlineCompletionParams,
    insertTextOf,
    parseStatus,
    requestInlineCompletion,
    utf16Length,
} from '../../src/protocol';
import { CompletionFeedback } from '../../src/telemetry';
import { OFFLINE_ENV, assistantCli, patternModule, prepareWorkspace, run } from './workspace';

const TYPING_PATH = 'pkg/ghost_typing.py';
const TYPED = '    val';

/** A handler whose body's first line is being typed: the file's lines and the row of the cursor. */
function typingState(): { lines: string[]; row: number } {
    const lines = patternModule(9).replace(/\n$/, '').split('\n');
    const row = lines.indexOf('def handle_9_4(request):') + 1;
    lines[row] = TYPED;
    return { lines, row };
}

/** Wait for `check` to hold, polling; fails with `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

let workspace: string;
let server: ChildProcess | undefined;

before(async () => {
    workspace = await prepareWorkspace();
}, { timeout: 900_000 });

after(() => {
    if (server !== undefined && server.exitCode === null) {
        server.kill();
    }
    if (workspace !== undefined) {
        fs.rmSync(path.dirname(workspace), { recursive: true, force: true });
    }
});

test('inline completion, feedback and accept against the real server', { timeout: 600_000 }, async () => {
    const cli = assistantCli();
    const { lines, row } = typingState();
    const text = lines.join('\n') + '\n';
    const file = path.join(workspace, TYPING_PATH);
    fs.writeFileSync(file, text);
    // What the server must suggest, asked independently of it: the CLI on the same saved file (1-based).
    const expected = run(cli, ['complete', file, '--line', String(row + 1), '--col', String(TYPED.length + 1), '--json'],
        workspace);

    // The server as the extension starts it: `assistant serve --stdio` in the workspace folder.
    const command = serverCommand({ ...DEFAULTS, serverPath: cli }, workspace, os.homedir());
    assert.deepEqual(command.args, ['serve', '--stdio']);
    const child = spawn(command.command, command.args, { cwd: command.cwd, env: OFFLINE_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    server = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    assert.ok(child.stdout && child.stdin);
    const connection: ProtocolConnection = createProtocolConnection(child.stdout, child.stdin);
    const statuses: AssistantStatus[] = [];
    const messages: unknown[] = [];
    connection.onNotification(StatusNotification, (params) => {
        const status = parseStatus(params);
        assert.ok(status, `a $/assistant/status the extension can read: ${JSON.stringify(params)}`);
        statuses.push(status);
    });
    connection.onNotification('window/showMessage', (params) => messages.push(params));
    connection.listen();

    let completion = '';
    let partial = 0;
    try {
        const uri = pathToFileURL(workspace).href;
        const init = await connection.sendRequest(InitializeRequest.type, {
            processId: process.pid,
            rootUri: uri,
            workspaceFolders: [{ uri, name: 'workspace' }],
            capabilities: { textDocument: { inlineCompletion: { dynamicRegistration: false } } },
        });
        assert.ok(init.capabilities.inlineCompletionProvider, 'the server offers inline completion');
        assert.deepEqual(init.capabilities.executeCommandProvider?.commands, [ACCEPT_COMMAND]);
        await connection.sendNotification(InitializedNotification.type, {});

        await waitFor('the model to load', () => statuses.some((s) => s.state === 'ready' || s.state === 'error'), 300_000);
        const ready = statuses.find((s) => s.state === 'ready');
        assert.ok(ready, `the server loaded the model: ${JSON.stringify(statuses)} ${JSON.stringify(messages)}\n${stderr.slice(-2000)}`);
        assert.equal(statuses[0]?.state, 'loading');
        assert.match(ready.model, /^tiny-nano \+ .*\.assistant[/\\]model$/);

        const documentUri = pathToFileURL(file).href;
        await connection.sendNotification(DidOpenTextDocumentNotification.type, {
            textDocument: { uri: documentUri, languageId: 'python', version: 1, text },
        });
        const position = { line: row, character: utf16Length(TYPED) };
        const items = await requestInlineCompletion(connection, inlineCompletionParams(documentUri, position, false));

        const answer = await expected;
        assert.equal(answer.code, 0, answer.stderr.slice(-2000));
        completion = (JSON.parse(answer.stdout) as { completion: string }).completion;
        assert.notEqual(completion, '', 'the tiny model suggests something here: the test needs a suggestion to check');
        assert.equal(items.length, 1);
        const [item] = items;
        assert.ok(item);
        assert.equal(insertTextOf(item), completion);
        assert.deepEqual(item.range, { start: position, end: position });
        assert.equal(item.command?.command, ACCEPT_COMMAND);
        assert.equal(item.command?.title, 'repo-assistant: accepted');

        // Feedback as the extension sends it: shown, accept word (twice reported, once sent), accept.
        const feedback = new CompletionFeedback((line) => assert.fail(`feedback failed: ${line}`));
        const shown = {};
        feedback.remember(shown, item, connection);
        await feedback.shown(shown);
        partial = clampAcceptedLength(item, Math.max(1, Math.floor(utf16Length(completion) / 2)));
        await feedback.partiallyAccepted(shown, partial);
        await feedback.partiallyAccepted(shown, { acceptedLength: partial });
        await feedback.accepted(...((item.command?.arguments ?? []) as unknown[]));

        await connection.sendRequest(ShutdownRequest.type);
        await connection.sendNotification(ExitNotification.type);
        assert.equal(await exited, 0, stderr.slice(-2000));
    } finally {
        connection.dispose();
    }

    // Telemetry, as `assistant stats` reads it: one suggestion, shown, partly accepted, then accepted in full.
    const stats = await run(cli, ['stats', '--repo', workspace, '--json'], workspace);
    assert.equal(stats.code, 0, stats.stderr);
    const report = JSON.parse(stats.stdout) as {
        telemetry: string;
        language: { key: string; shown: number; accepted: number; partially_accepted: number; accepted_chars: number; served: number }[];
    };
    const python = report.language.find((group) => group.key === 'python');
    assert.ok(python, stats.stdout);
    const partialChars = [...completion.slice(0, partial)].length;
    assert.deepEqual(
        { served: python.served, shown: python.shown, accepted: python.accepted, partially_accepted: python.partially_accepted },
        { served: 1, shown: 1, accepted: 1, partially_accepted: 0 },
    );
    // The whole suggestion once (an accept that reached the server twice would count it twice), plus what the
    // partial accept took.
    assert.equal(python.accepted_chars, [...completion].length + partialChars);
    const events = fs.readdirSync(report.telemetry).filter((name) => name.endsWith('.jsonl'))
        .flatMap((name) => fs.readFileSync(path.join(report.telemetry, name), 'utf8').split('\n'))
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as { event: string; chars?: number });
    const count = (event: string): number => events.filter((e) => e.event === event).length;
    assert.deepEqual({ shown: count('shown'), partial: count('partial'), accepted: count('accepted') },
        { shown: 1, partial: 1, accepted: 1 }, 'each feedback reached the server exactly once');
    assert.equal(events.find((e) => e.event === 'partial')?.chars, partialChars);
});
