/**
 * What the server learns about its suggestions (recorded under `.assistant/telemetry/`, never sent anywhere):
 * shown (`textDocument/didShowCompletion`), partly accepted (`textDocument/didPartiallyAcceptCompletion`) and
 * accepted (the item's own `repo-assistant.accept` command, run on the server with `workspace/executeCommand`).
 *
 * VS Code hands back its own InlineCompletionItem objects; the feedback must carry the item as the server sent
 * it and go to the server that sent it (one per workspace folder). {@link CompletionFeedback} keeps both for
 * every item it was told about. Nothing here imports `vscode` at run time.
 */

import type { InlineCompletionItem } from 'vscode-languageserver-protocol';
import { errorText } from './errors';
import {
    ACCEPT_COMMAND,
    LspConnection,
    clampAcceptedLength,
    completionIdOf,
    executeCommand,
    notifyPartiallyAccepted,
    notifyShown,
} from './protocol';

/** Where an item shown by VS Code came from. */
interface Origin {
    item: InlineCompletionItem;
    connection: LspConnection;
}

/**
 * VS Code's partial-accept callback gets a length (VS Code before 1.90) or a `PartialAcceptInfo`; newer builds
 * call it twice per partial accept, once with each. Either way the length is in UTF-16 code units of the
 * item's insert text.
 */
export type PartialAcceptArgument = number | { acceptedLength: number };

/** The accepted length a partial-accept callback carries, or undefined for an argument of another shape. */
export function acceptedLengthOf(argument: unknown): number | undefined {
    if (typeof argument === 'number') {
        return argument;
    }
    if (typeof argument === 'object' && argument !== null && 'acceptedLength' in argument) {
        return typeof argument.acceptedLength === 'number' ? argument.acceptedLength : undefined;
    }
    return undefined;
}

/** How many completion ids to remember for routing accepts: far more than can be on screen at once. */
const REMEMBERED_IDS = 256;

export class CompletionFeedback {
    private readonly origins = new WeakMap<object, Origin>();
    private readonly connectionsById = new Map<string, LspConnection>();
    private lastPartial: { item: object; length: number } | undefined;

    /**
     * @param log where failures to deliver feedback go (the output channel): feedback is best effort, and a
     *   server that went away must not turn into a message in the user's face.
     */
    constructor(private readonly log: (message: string) => void = () => undefined) {}

    /** Record that `shownItem` (VS Code's object) is `item` as `connection`'s server sent it. */
    remember(shownItem: object, item: InlineCompletionItem, connection: LspConnection): void {
        this.origins.set(shownItem, { item, connection });
        const id = completionIdOf(item);
        if (id !== undefined) {
            this.connectionsById.delete(id);
            this.connectionsById.set(id, connection);
            if (this.connectionsById.size > REMEMBERED_IDS) {
                const oldest = this.connectionsById.keys().next().value;
                if (oldest !== undefined) {
                    this.connectionsById.delete(oldest);
                }
            }
        }
    }

    /** `handleDidShowCompletionItem`: VS Code displays the item as ghost text. */
    async shown(shownItem: object): Promise<void> {
        const origin = this.origins.get(shownItem);
        if (origin !== undefined) {
            await this.deliver('didShowCompletion', () => notifyShown(origin.connection, origin.item));
        }
    }

    /**
     * `handleDidPartiallyAcceptCompletionItem`: the user took the start of the item (accept word or line).
     * One notification per partial accept, though VS Code may report it twice in two shapes.
     */
    async partiallyAccepted(shownItem: object, argument: PartialAcceptArgument): Promise<void> {
        const origin = this.origins.get(shownItem);
        const length = acceptedLengthOf(argument);
        if (origin === undefined || length === undefined) {
            return;
        }
        const accepted = clampAcceptedLength(origin.item, length);
        if (this.lastPartial?.item === shownItem && this.lastPartial.length === accepted) {
            return; // the same partial accept, reported again in its other shape
        }
        this.lastPartial = { item: shownItem, length: accepted };
        await this.deliver('didPartiallyAcceptCompletion',
            () => notifyPartiallyAccepted(origin.connection, origin.item, accepted));
    }

    /**
     * The `repo-assistant.accept` command, which VS Code runs once when the user accepts a whole item: sends it,
     * with the arguments the server put in the item, to the server that made the item.
     */
    async accepted(...args: unknown[]): Promise<void> {
        const id = completionIdOf({ command: { title: '', command: ACCEPT_COMMAND, arguments: args } });
        const connection = id === undefined ? undefined : this.connectionsById.get(id);
        if (connection === undefined) {
            this.log(`${ACCEPT_COMMAND} for an unknown completion (${JSON.stringify(args)}): not sent`);
            return;
        }
        await this.deliver(ACCEPT_COMMAND,
            () => executeCommand(connection, { title: 'repo-assistant: accepted', command: ACCEPT_COMMAND, arguments: args }));
    }

    private async deliver(what: string, send: () => Promise<unknown>): Promise<void> {
        try {
            await send();
        } catch (error) {
            this.log(`${what} not delivered: ${errorText(error)}`);
        }
    }
}
