/**
 * The contract with `assistant serve`, on the wire: what the extension sends and what it reads back.
 *
 * This module imports nothing from `vscode`, so the integration test drives the real server with it over a
 * plain vscode-jsonrpc connection, exactly as the extension does through its LanguageClient. Both satisfy
 * {@link LspConnection}.
 *
 * - `textDocument/inlineCompletion` (LSP 3.18): ghost text. Every item carries the command
 *   `repo-assistant.accept` with `[{ id }]`, run with `workspace/executeCommand` when the user accepts it.
 * - `textDocument/didShowCompletion` `{ item }` and `textDocument/didPartiallyAcceptCompletion`
 *   `{ item, acceptedLength }` (UTF-16 code units): what was shown and partly taken, for local telemetry.
 * - `$/assistant/status` from the server: loading, ready, generating or error, the model, its evaluation.
 */

import {
    CancellationToken,
    Command,
    ExecuteCommandParams,
    ExecuteCommandRequest,
    InlineCompletionItem,
    InlineCompletionList,
    NotificationType,
    Position,
    RequestType,
    TextDocumentIdentifier,
} from 'vscode-languageserver-protocol';

/** The command the server puts on every item and runs on `workspace/executeCommand` to record an accept. */
export const ACCEPT_COMMAND = 'repo-assistant.accept';

/**
 * The LSP 3.18 trigger kinds. vscode-languageclient 9 still sends the 3.17 proposal's values (Invoked 0,
 * Automatic 1), which a 3.18 server rejects or misreads, so the params are built here.
 */
export const TriggerKind = { Invoked: 1, Automatic: 2 } as const;
export type TriggerKind = (typeof TriggerKind)[keyof typeof TriggerKind];

/** `textDocument/inlineCompletion` params as LSP 3.18 defines them. */
export interface InlineCompletionParams {
    textDocument: TextDocumentIdentifier;
    position: Position;
    context: { triggerKind: TriggerKind };
}

export type InlineCompletionResult = InlineCompletionList | InlineCompletionItem[] | null;

export const InlineCompletionRequest = new RequestType<InlineCompletionParams, InlineCompletionResult, void>(
    'textDocument/inlineCompletion',
);

export interface DidShowCompletionParams {
    item: InlineCompletionItem;
}

export interface DidPartiallyAcceptCompletionParams {
    item: InlineCompletionItem;
    /** How much of `item.insertText` is now in the document, in UTF-16 code units. */
    acceptedLength: number;
}

export const DidShowCompletionNotification = new NotificationType<DidShowCompletionParams>(
    'textDocument/didShowCompletion',
);

export const DidPartiallyAcceptCompletionNotification = new NotificationType<DidPartiallyAcceptCompletionParams>(
    'textDocument/didPartiallyAcceptCompletion',
);

/** What the server is doing, as `$/assistant/status` reports it. */
export type ServerState = 'loading' | 'ready' | 'generating' | 'error';

const SERVER_STATES: readonly string[] = ['loading', 'ready', 'generating', 'error'];

/** A confidence interval of a tuned-minus-base difference. */
export interface Interval {
    mean: number;
    low: number;
    high: number;
}

/**
 * The `metrics` of the model dir's model.json, as the server forwards it: base against tuned on held-out
 * commits (`assistant eval`), and HumanEval figures when they were measured. Every field may be missing.
 */
export interface EvalSummary {
    heldout_examples?: number;
    verdict?: string;
    base?: Record<string, number>;
    tuned?: Record<string, number>;
    delta?: Record<string, Interval>;
    humaneval?: Record<string, unknown>;
}

export interface AssistantStatus {
    state: ServerState;
    /** "BASE + MODEL DIR" once loaded; before that, or on failure, the model dir it looks for. */
    model: string;
    message: string;
    eval: EvalSummary | null;
}

export const StatusNotification = new NotificationType<unknown>('$/assistant/status');

/** The part of a LanguageClient or a vscode-jsonrpc MessageConnection this module needs. */
export interface LspConnection {
    sendRequest<P, R, E>(type: RequestType<P, R, E>, params: P, token?: CancellationToken): Promise<R>;
    sendNotification<P>(type: NotificationType<P>, params: P): Promise<void>;
}

/** Params of an inline completion request at `position` of the document `uri`. */
export function inlineCompletionParams(uri: string, position: Position, invoked: boolean): InlineCompletionParams {
    return {
        textDocument: { uri },
        position,
        context: { triggerKind: invoked ? TriggerKind.Invoked : TriggerKind.Automatic },
    };
}

/** The items of an inline completion answer, whichever of its three shapes the server chose. */
export function itemsOf(result: InlineCompletionResult): InlineCompletionItem[] {
    if (result === null || result === undefined) {
        return [];
    }
    return Array.isArray(result) ? result : result.items;
}

/** The text of an item: `insertText` is a string or, for snippets, a `{ kind, value }` StringValue. */
export function insertTextOf(item: InlineCompletionItem): string {
    return typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
}

/** The completion id the server put in the item's command, or undefined for an item without one. */
export function completionIdOf(item: { command?: Command }): string | undefined {
    const argument: unknown = item.command?.arguments?.[0];
    if (typeof argument === 'object' && argument !== null && 'id' in argument) {
        return typeof argument.id === 'string' ? argument.id : undefined;
    }
    return undefined;
}

/**
 * The length of `text` in UTF-16 code units, the unit LSP counts `acceptedLength` in by default. A JS string's
 * `length` is exactly that, which is why this is a named function: the server counts in code points.
 */
export function utf16Length(text: string): number {
    return text.length;
}

/**
 * `acceptedLength` as the server accepts it: a whole number of UTF-16 code units between 0 and the item's
 * length. A cut inside a surrogate pair (half an emoji) is moved back to the pair's start.
 */
export function clampAcceptedLength(item: InlineCompletionItem, acceptedLength: number): number {
    const text = insertTextOf(item);
    let length = Math.max(0, Math.min(utf16Length(text), Math.floor(acceptedLength)));
    if (!Number.isFinite(length)) {
        return 0;
    }
    const before = text.charCodeAt(length - 1);
    if (length > 0 && length < text.length && before >= 0xd800 && before <= 0xdbff) {
        length -= 1; // a high surrogate without its low half: the character was not accepted
    }
    return length;
}

export function didShowParams(item: InlineCompletionItem): DidShowCompletionParams {
    return { item };
}

export function didPartiallyAcceptParams(
    item: InlineCompletionItem,
    acceptedLength: number,
): DidPartiallyAcceptCompletionParams {
    return { item, acceptedLength: clampAcceptedLength(item, acceptedLength) };
}

/** `workspace/executeCommand` params that run an item's command on the server. */
export function executeCommandParams(command: Command): ExecuteCommandParams {
    return { command: command.command, arguments: command.arguments ?? [] };
}

/**
 * The status a `$/assistant/status` notification carries, or undefined for params that are not one. Fields of
 * the wrong type read as empty, as the Neovim plugin reads them.
 */
export function parseStatus(params: unknown): AssistantStatus | undefined {
    if (typeof params !== 'object' || params === null) {
        return undefined;
    }
    const p = params as Record<string, unknown>;
    if (typeof p.state !== 'string' || !SERVER_STATES.includes(p.state)) {
        return undefined;
    }
    const evaluation = typeof p.eval === 'object' && p.eval !== null && !Array.isArray(p.eval) ? p.eval : null;
    return {
        state: p.state as ServerState,
        model: typeof p.model === 'string' ? p.model : '',
        message: typeof p.message === 'string' ? p.message : '',
        eval: evaluation as EvalSummary | null,
    };
}

/** Ask the server for ghost text at a position; an empty list when it has none. */
export async function requestInlineCompletion(
    connection: LspConnection,
    params: InlineCompletionParams,
    token?: CancellationToken,
): Promise<InlineCompletionItem[]> {
    return itemsOf(await connection.sendRequest(InlineCompletionRequest, params, token));
}

export function notifyShown(connection: LspConnection, item: InlineCompletionItem): Promise<void> {
    return connection.sendNotification(DidShowCompletionNotification, didShowParams(item));
}

export function notifyPartiallyAccepted(
    connection: LspConnection,
    item: InlineCompletionItem,
    acceptedLength: number,
): Promise<void> {
    return connection.sendNotification(
        DidPartiallyAcceptCompletionNotification,
        didPartiallyAcceptParams(item, acceptedLength),
    );
}

/** Run an accepted item's command (`repo-assistant.accept`) on the server that made the item. */
export async function executeCommand(connection: LspConnection, command: Command): Promise<unknown> {
    return connection.sendRequest(ExecuteCommandRequest.type, executeCommandParams(command));
}
