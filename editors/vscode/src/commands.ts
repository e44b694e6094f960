/**
 * The commands: toggle ghost text, restart the servers, train a model and show acceptance statistics (both
 * run the `assistant` CLI as a task in the terminal panel), show the log, the menu behind the status bar item,
 * and `repo-assistant.accept`, the command the server puts on its items.
 */

import * as os from 'node:os';
import * as vscode from 'vscode';
import type { Servers } from './client';
import { SECTION, cliCommand, findExecutable, notFoundMessage, readSettings, toggleTarget } from './config';
import { ACCEPT_COMMAND } from './protocol';
import type { CompletionFeedback } from './telemetry';

export const COMMANDS = {
    toggle: 'repo-assistant.toggle',
    restart: 'repo-assistant.restart',
    train: 'repo-assistant.train',
    stats: 'repo-assistant.stats',
    showLog: 'repo-assistant.showLog',
    menu: 'repo-assistant.menu',
    accept: ACCEPT_COMMAND,
} as const;

/** The task type of `assistant train` and `assistant stats` runs (declared in package.json). */
const TASK_TYPE = 'repo-assistant';

export interface CommandDeps {
    servers: Servers;
    feedback: CompletionFeedback;
    output: vscode.OutputChannel;
}

/** The workspace folder a command is about: the active editor's, the only one, or one the user picks. */
async function commandFolder(): Promise<vscode.WorkspaceFolder | undefined> {
    const editor = vscode.window.activeTextEditor;
    const active = editor && vscode.workspace.getWorkspaceFolder(editor.document.uri);
    if (active !== undefined) {
        return active;
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 1) {
        return folders[0];
    }
    if (folders.length === 0) {
        void vscode.window.showErrorMessage('repo-assistant: open a folder first; models are trained per repository.');
        return undefined;
    }
    return vscode.window.showWorkspaceFolderPick({ placeHolder: 'Workspace folder (repository)' });
}

/**
 * Run `assistant ARGS` for `folder` as a task in the terminal panel, where its output stays after it ends.
 * Resolves to the exit code, or undefined when it could not run.
 */
async function runCli(folder: vscode.WorkspaceFolder, name: string, args: string[]): Promise<number | undefined> {
    const settings = readSettings(vscode.workspace.getConfiguration(SECTION, folder.uri));
    const command = cliCommand(settings, folder.uri.fsPath, os.homedir(), args);
    const program = findExecutable(command.command);
    if (program === undefined) {
        void vscode.window.showErrorMessage(`repo-assistant: ${notFoundMessage(command.command)}`);
        return undefined;
    }
    const task = new vscode.Task({ type: TASK_TYPE, command: name }, folder, name, 'repo-assistant',
        new vscode.ProcessExecution(program, command.args, { cwd: command.cwd }));
    task.presentationOptions = {
        reveal: vscode.TaskRevealKind.Always,
        panel: vscode.TaskPanelKind.Dedicated,
        clear: true,
        focus: false,
    };
    return new Promise((resolve) => {
        // Listen before starting: a quick process can end before executeTask's promise settles.
        let execution: vscode.TaskExecution | undefined;
        const ended = new Map<vscode.TaskExecution, number | undefined>();
        const finish = (code: number | undefined): void => {
            listener.dispose();
            resolve(code);
        };
        const listener = vscode.tasks.onDidEndTaskProcess((event) => {
            if (execution === undefined) {
                ended.set(event.execution, event.exitCode);
            } else if (event.execution === execution) {
                finish(event.exitCode);
            }
        });
        vscode.tasks.executeTask(task).then((started) => {
            execution = started;
            if (ended.has(started)) {
                finish(ended.get(started));
            }
        }, (error: unknown) => {
            void vscode.window.showErrorMessage(`repo-assistant: cannot run ${name}: ${String(error)}`);
            finish(undefined);
        });
    });
}

async function toggle(): Promise<void> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const on = !readSettings(config).enable;
    const target = toggleTarget(config.inspect<boolean>('enable')) === 'workspace'
        ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await config.update('enable', on, target);
    void vscode.window.setStatusBarMessage(`repo-assistant: ghost text ${on ? 'on' : 'off'}`, 3000);
}

async function train(servers: Servers): Promise<void> {
    const folder = await commandFolder();
    if (folder === undefined) {
        return;
    }
    const code = await runCli(folder, 'train', ['train', '--repo', folder.uri.fsPath]);
    if (code === 0) {
        void vscode.window.showInformationMessage(
            `repo-assistant: training finished; restarting the server of ${folder.name} with the new model.`);
        await servers.restartFolder(folder);
    } else if (code !== undefined) {
        void vscode.window.showErrorMessage(
            `repo-assistant: training failed (exit code ${code}); its output is in the terminal panel.`);
    }
}

async function stats(): Promise<void> {
    const folder = await commandFolder();
    if (folder !== undefined) {
        await runCli(folder, 'stats', ['stats', '--repo', folder.uri.fsPath]);
    }
}

/** The quick pick behind the status bar item. */
async function menu(): Promise<void> {
    const on = readSettings(vscode.workspace.getConfiguration(SECTION)).enable;
    const items: (vscode.QuickPickItem & { command: string; args?: unknown[] })[] = [
        { label: on ? '$(circle-slash) Turn ghost text off' : '$(sparkle) Turn ghost text on', command: COMMANDS.toggle },
        { label: '$(debug-restart) Restart server', command: COMMANDS.restart },
        { label: '$(mortar-board) Train a model on this repository', description: 'assistant train', command: COMMANDS.train },
        { label: '$(graph) Show acceptance statistics', description: 'assistant stats', command: COMMANDS.stats },
        { label: '$(output) Show log', command: COMMANDS.showLog },
        { label: '$(gear) Open settings', command: 'workbench.action.openSettings', args: [SECTION] },
    ];
    const choice = await vscode.window.showQuickPick(items, { placeHolder: 'repo-assistant' });
    if (choice !== undefined) {
        await vscode.commands.executeCommand(choice.command, ...(choice.args ?? []));
    }
}

export function registerCommands(context: vscode.ExtensionContext, deps: CommandDeps): void {
    const register = (id: string, run: (...args: unknown[]) => unknown): void => {
        context.subscriptions.push(vscode.commands.registerCommand(id, run));
    };
    register(COMMANDS.toggle, toggle);
    register(COMMANDS.restart, () => deps.servers.restartAll());
    register(COMMANDS.train, () => train(deps.servers));
    register(COMMANDS.stats, stats);
    register(COMMANDS.showLog, () => deps.output.show(true));
    register(COMMANDS.menu, menu);
    register(COMMANDS.accept, (...args) => deps.feedback.accepted(...args));
}
