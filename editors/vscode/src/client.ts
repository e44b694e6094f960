/**
 * The language servers: one `assistant serve` per workspace folder, started through vscode-languageclient the
 * first time a file of that folder is opened, with the folder as its root (so it finds
 * `<folder>/.assistant/model`) and as its working directory.
 *
 * A server that cannot start, or stops on its own, is reported once with what to do and left stopped until
 * `repo-assistant.restart` or a change of `repoAssistant.serverPath` / `serverArgs`: never a restart loop.
 */

import { ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
    CloseAction,
    ErrorAction,
    LanguageClient,
    LanguageClientOptions,
    RevealOutputChannelOn,
    ServerOptions,
    State,
} from 'vscode-languageclient/node';
import type { DynamicFeature, StaticFeature } from 'vscode-languageclient/node';
import {
    CommandLine,
    SECTION,
    findExecutable,
    ghostTextEnabled,
    notFoundMessage,
    readSettings,
    serverCommand,
} from './config';
import { errorText } from './errors';
import { InlineCompletionFeature } from './inlineCompletion';
import { StatusNotification, parseStatus } from './protocol';
import type { Phase, ServerView } from './status';
import type { CompletionFeedback } from './telemetry';

/** Features of vscode-languageclient this extension leaves out, by LSP method. */
const LEFT_OUT = new Set([
    // The server also answers textDocument/completion for editors without inline completion. In VS Code that
    // would ask the model a second time per keystroke and put the same text into the suggest widget.
    'textDocument/completion',
    // vscode-languageclient registers a VS Code command per server command, per client; VS Code refuses a
    // second registration of `repo-assistant.accept`, so the server of a second workspace folder would fail
    // to start. The extension registers the command once and sends it to the server that made the item.
    'workspace/executeCommand',
    // Ghost text is InlineCompletionFeature's, which carries the feedback the library's provider cannot.
    'textDocument/inlineCompletion',
]);

/** A LanguageClient without the features above, and whose messages go to the log only. */
class AssistantLanguageClient extends LanguageClient {
    override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
        const method = 'registrationType' in feature ? feature.registrationType.method : undefined;
        if (method !== undefined && LEFT_OUT.has(method)) {
            return;
        }
        super.registerFeature(feature);
    }

    /**
     * The library pops up some errors itself ("couldn't create connection to server"), forced past
     * `revealOutputChannelOn`. The extension reports a failed server once, with the fix, so here errors are
     * only logged.
     */
    override error(message: string, data?: unknown): void {
        super.error(message, data, false);
    }
}

/** What a failure message offers: the settings (the program or its arguments are wrong), or a restart. */
type Fix = 'settings' | 'restart';

/** The server of one workspace folder. */
class FolderServer {
    phase: Phase = 'stopped';
    status: ServerView['status'];
    failure: string | undefined;
    private client: AssistantLanguageClient | undefined;
    private process: ChildProcess | undefined;
    private stoppingOnPurpose = false;

    constructor(
        readonly folder: vscode.WorkspaceFolder,
        private readonly output: vscode.OutputChannel,
        private readonly feedback: CompletionFeedback,
        private readonly changed: () => void,
        private readonly report: (message: string, fix: Fix) => void,
    ) {}

    view(): ServerView {
        return { folderName: this.folder.name, phase: this.phase, status: this.status, failure: this.failure };
    }

    async start(): Promise<void> {
        const settings = readSettings(vscode.workspace.getConfiguration(SECTION, this.folder.uri));
        const command = serverCommand(settings, this.folder.uri.fsPath, os.homedir());
        const program = findExecutable(command.command);
        if (program === undefined) {
            this.fail(notFoundMessage(command.command), 'settings');
            return;
        }
        const client = this.createClient({ ...command, command: program });
        this.client = client;
        this.stoppingOnPurpose = false;
        this.phase = 'starting';
        this.status = undefined;
        this.failure = undefined;
        this.changed();
        try {
            await withTimeout(client.start(), START_TIMEOUT_MS,
                `no answer to initialize within ${START_TIMEOUT_MS / 1000} s (is it the assistant program?)`);
        } catch (error) {
            if (this.client === client && !this.stoppingOnPurpose) {
                this.client = undefined;
                const why = (await this.exitOf(this.process)) ?? errorText(error);
                this.process?.kill(); // a program that never answered is still running
                // No folder name in the message: a bad serverPath fails every folder alike, and is reported once.
                this.fail(`the server did not start (${describe(command)}): ${why}. Its output is in the `
                    + 'repo-assistant log; check repoAssistant.serverPath and repoAssistant.serverArgs.', 'settings');
            }
            return;
        }
        if (this.client === client) {
            this.phase = 'running';
            this.changed();
        }
    }

    /** Stop the server: LSP shutdown and exit, then, if it is still there after a grace period, kill it. */
    async stop(): Promise<void> {
        const client = this.client;
        const child = this.process;
        this.client = undefined;
        this.stoppingOnPurpose = true;
        this.phase = 'stopped';
        this.status = undefined;
        this.changed();
        if (client !== undefined && client.state === State.Running) {
            try {
                await client.stop(STOP_TIMEOUT_MS);
            } catch (error) {
                this.output.appendLine(`[${this.folder.name}] stopping the server: ${errorText(error)}`);
            }
        }
        if (child !== undefined && child.exitCode === null && child.signalCode === null) {
            const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
            await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
            if (child.exitCode === null && child.signalCode === null) {
                child.kill();
            }
        }
    }

    /** How `child` ended ("it exited with code 2"), waiting a moment for it; undefined while it runs. */
    private async exitOf(child: ChildProcess | undefined): Promise<string | undefined> {
        if (child === undefined) {
            return undefined;
        }
        if (child.exitCode === null && child.signalCode === null) {
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, 500);
                child.once('exit', () => {
                    clearTimeout(timer);
                    resolve(undefined);
                });
            });
        }
        if (child.signalCode !== null) {
            return `it was killed by ${child.signalCode} before answering`;
        }
        return child.exitCode !== null ? `it exited with code ${child.exitCode} before answering` : undefined;
    }

    private fail(message: string, fix: Fix): void {
        this.phase = 'failed';
        this.failure = message;
        this.status = undefined;
        this.changed();
        this.output.appendLine(`[${this.folder.name}] ${message}`);
        this.report(message, fix);
    }

    /** Start `assistant serve` for the client, keeping the process to end it if the protocol cannot. */
    private spawn(command: CommandLine): Promise<ChildProcess> {
        return new Promise((resolve, reject) => {
            const child = spawn(command.command, command.args, { cwd: command.cwd, env: process.env });
            child.once('error', reject);
            child.once('spawn', () => {
                child.off('error', reject);
                const logError = (error: Error): void =>
                    this.output.appendLine(`[${this.folder.name}] server process: ${errorText(error)}`);
                child.on('error', logError);
                // A server that exits while a message is being written fails the write with EPIPE; unheard, that
                // error would be an uncaught exception in the extension host.
                child.stdin.on('error', logError);
                child.on('exit', (code, signal) => this.output.appendLine(
                    `[${this.folder.name}] the server exited (${signal !== null ? `signal ${signal}` : `code ${String(code)}`})`));
                this.process = child;
                resolve(child);
            });
        });
    }

    private createClient(command: CommandLine): AssistantLanguageClient {
        const serverOptions: ServerOptions = () => this.spawn(command);
        const clientOptions: LanguageClientOptions = {
            documentSelector: [{ scheme: 'file', pattern: `${this.folder.uri.fsPath}/**/*` }],
            workspaceFolder: this.folder,
            outputChannel: this.output,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationFailedHandler: (error) => {
                this.output.appendLine(`[${this.folder.name}] initialize failed: ${errorText(error)}`);
                return false;
            },
            errorHandler: {
                error: (_error, _message, count) => ({
                    action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
                    handled: true,
                }),
                closed: () => {
                    if (!this.stoppingOnPurpose && this.phase === 'running') {
                        this.client = undefined;
                        this.fail(`the server for ${this.folder.name} stopped unexpectedly; its output is in the `
                            + 'repo-assistant log.', 'restart');
                    }
                    return { action: CloseAction.DoNotRestart, handled: true };
                },
            },
        };
        const client = new AssistantLanguageClient(SECTION, 'repo-assistant', serverOptions, clientOptions);
        client.registerFeature(new InlineCompletionFeature(client, this.folder, this.feedback));
        client.onNotification(StatusNotification, (params) => {
            const status = parseStatus(params);
            if (status !== undefined && this.client === client) {
                this.status = status;
                this.changed();
            }
        });
        return client;
    }
}

/** How long a server may take to answer `initialize` (it answers before loading the model). */
const START_TIMEOUT_MS = 60_000;

/** How long a server may take to stop after `shutdown`/`exit`, and then after that, before it is killed. */
const STOP_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(command: CommandLine): string {
    return [command.command, ...command.args].join(' ');
}

/** All servers of the window, by workspace folder. */
export class Servers implements vscode.Disposable {
    private readonly byFolder = new Map<string, FolderServer>();
    private readonly reported = new Set<string>();
    private readonly changeEmitter = new vscode.EventEmitter<void>();

    /** Fires when a server starts, stops, fails or reports a new state. */
    readonly onDidChange = this.changeEmitter.event;

    constructor(
        private readonly output: vscode.OutputChannel,
        private readonly feedback: CompletionFeedback,
    ) {}

    /** Start the server of `document`'s workspace folder, if the document should have ghost text and it has none. */
    ensureFor(document: vscode.TextDocument): void {
        if (document.uri.scheme !== 'file') {
            return;
        }
        const folder = vscode.workspace.getWorkspaceFolder(document.uri);
        if (folder === undefined) {
            return; // outside every workspace folder: the model is trained per repository
        }
        const settings = readSettings(vscode.workspace.getConfiguration(SECTION, document.uri));
        if (!ghostTextEnabled(settings, document.languageId)) {
            return;
        }
        const key = folder.uri.toString();
        if (this.byFolder.has(key)) {
            return;
        }
        const server = new FolderServer(folder, this.output, this.feedback, () => this.changeEmitter.fire(),
            (message, fix) => this.reportOnce(message, fix));
        this.byFolder.set(key, server);
        void server.start();
    }

    /** The server of `folder`, as the status bar shows it; undefined when it has none. */
    view(folder: vscode.WorkspaceFolder | undefined): ServerView | undefined {
        return folder === undefined ? undefined : this.byFolder.get(folder.uri.toString())?.view();
    }

    /** Stop every server and start them again for the open documents, forgetting past failures. */
    async restartAll(): Promise<void> {
        await this.stopAll();
        this.reported.clear();
        for (const document of vscode.workspace.textDocuments) {
            this.ensureFor(document);
        }
    }

    /** Stop the server of `folder` and start it again (after training: the new model), forgetting past failures. */
    async restartFolder(folder: vscode.WorkspaceFolder): Promise<void> {
        await this.stopFolder(folder);
        this.reported.clear();
        for (const document of vscode.workspace.textDocuments) {
            if (vscode.workspace.getWorkspaceFolder(document.uri)?.uri.toString() === folder.uri.toString()) {
                this.ensureFor(document);
            }
        }
    }

    /** Stop the server of a workspace folder that left the workspace. */
    async stopFolder(folder: vscode.WorkspaceFolder): Promise<void> {
        const key = folder.uri.toString();
        const server = this.byFolder.get(key);
        this.byFolder.delete(key);
        await server?.stop();
    }

    async stopAll(): Promise<void> {
        const servers = [...this.byFolder.values()];
        this.byFolder.clear();
        await Promise.all(servers.map((server) => server.stop()));
    }

    /** One message per distinct failure (a bad serverPath fails every folder the same way), with its fix. */
    private reportOnce(message: string, fix: Fix): void {
        if (this.reported.has(message)) {
            return;
        }
        this.reported.add(message);
        const action = fix === 'settings' ? 'Open Settings' : 'Restart Server';
        const showLog = 'Show Log';
        void vscode.window.showErrorMessage(`repo-assistant: ${message}`, action, showLog).then((choice) => {
            if (choice === action) {
                void (fix === 'settings'
                    ? vscode.commands.executeCommand('workbench.action.openSettings', SECTION)
                    : vscode.commands.executeCommand('repo-assistant.restart'));
            } else if (choice === showLog) {
                this.output.show(true);
            }
        });
    }

    async dispose(): Promise<void> {
        await this.stopAll();
        this.changeEmitter.dispose();
    }
}
