/**
 * repo-assistant for VS Code: ghost-text completions from `assistant serve`, a code model fine-tuned on the
 * repository's own history, running on this machine.
 *
 * Activation wires the parts together: the servers (client.ts, one per workspace folder, started when a file
 * of the folder is opened), ghost text (inlineCompletion.ts), feedback to the server (telemetry.ts), the
 * status bar item (status.ts) and the commands (commands.ts). Settings are in config.ts and package.json.
 */

import * as vscode from 'vscode';
import { Servers } from './client';
import { COMMANDS, registerCommands } from './commands';
import { SECTION, ghostTextEnabled, readSettings } from './config';
import { StatusBar, describeStatus } from './status';
import { CompletionFeedback } from './telemetry';

let servers: Servers | undefined;

/** The workspace folder the status bar speaks for: the active editor's, else the only one. */
function statusFolder(): vscode.WorkspaceFolder | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor !== undefined) {
        return vscode.workspace.getWorkspaceFolder(editor.document.uri);
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    return folders.length === 1 ? folders[0] : undefined;
}

export function activate(context: vscode.ExtensionContext): void {
    const output = vscode.window.createOutputChannel('repo-assistant');
    const feedback = new CompletionFeedback((message) => output.appendLine(message));
    const running = new Servers(output, feedback);
    servers = running;
    const statusBar = new StatusBar(COMMANDS.menu);

    const refreshStatus = (): void => {
        const editor = vscode.window.activeTextEditor;
        const settings = readSettings(vscode.workspace.getConfiguration(SECTION, editor?.document.uri));
        const on = editor !== undefined ? ghostTextEnabled(settings, editor.document.languageId) : settings.enable;
        statusBar.show(describeStatus(running.view(statusFolder()), on));
    };
    const startForOpenDocuments = (): void => {
        for (const document of vscode.workspace.textDocuments) {
            running.ensureFor(document);
        }
    };

    registerCommands(context, { servers: running, feedback, output });
    context.subscriptions.push(
        output,
        statusBar,
        running,
        running.onDidChange(refreshStatus),
        vscode.window.onDidChangeActiveTextEditor(refreshStatus),
        vscode.workspace.onDidOpenTextDocument((document) => running.ensureFor(document)),
        vscode.workspace.onDidChangeWorkspaceFolders((event) => {
            for (const folder of event.removed) {
                void running.stopFolder(folder);
            }
            startForOpenDocuments();
        }),
        vscode.workspace.onDidChangeConfiguration((event) => {
            if (event.affectsConfiguration(`${SECTION}.serverPath`) || event.affectsConfiguration(`${SECTION}.serverArgs`)) {
                void running.restartAll();
            } else if (event.affectsConfiguration(SECTION)) {
                startForOpenDocuments(); // ghost text turned on, or a language no longer disabled
                refreshStatus();
            }
        }),
    );
    startForOpenDocuments();
    refreshStatus();
}

/** Stop the servers (shutdown, then exit) before VS Code ends the extension host. */
export async function deactivate(): Promise<void> {
    await servers?.stopAll();
    servers = undefined;
}
