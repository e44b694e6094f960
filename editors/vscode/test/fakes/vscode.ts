/**
 * A small stand-in for the `vscode` module, enough for the modules the unit tests load (status.ts,
 * inlineCompletion.ts). `register.ts` makes `require('vscode')` return it. Tests set `state` to shape what
 * the fake workspace answers and read what the fake window was asked to show.
 */

export enum StatusBarAlignment {
    Left = 1,
    Right = 2,
}

export enum InlineCompletionTriggerKind {
    Invoke = 0,
    Automatic = 1,
}

export class ThemeColor {
    constructor(readonly id: string) {}
}

/** Like VS Code's: `appendText` escapes Markdown, `appendMarkdown` does not. */
export class MarkdownString {
    value = '';
    supportThemeIcons = false;

    appendText(text: string): this {
        this.value += text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
        return this;
    }

    appendMarkdown(markdown: string): this {
        this.value += markdown;
        return this;
    }
}

export class FakeStatusBarItem {
    text = '';
    name = '';
    command: string | undefined;
    tooltip: MarkdownString | string | undefined;
    backgroundColor: ThemeColor | undefined;
    visible = false;
    disposed = false;

    constructor(readonly id: string, readonly alignment: StatusBarAlignment, readonly priority: number) {}

    show(): void {
        this.visible = true;
    }

    dispose(): void {
        this.disposed = true;
    }
}

export interface FakeFolder {
    uri: { toString(): string; fsPath: string };
    name: string;
    index: number;
}

/** What the fake answers, reset by each test. */
export const state = {
    statusBarItems: [] as FakeStatusBarItem[],
    /** `repoAssistant.*` settings, read through workspace.getConfiguration. */
    settings: {} as Record<string, unknown>,
    /** The workspace folder of every document: by URI string. */
    folders: new Map<string, FakeFolder>(),
    /** Commands registered through commands.registerCommand. */
    commands: new Map<string, (...args: unknown[]) => unknown>(),
};

export const commands = {
    registerCommand(id: string, run: (...args: unknown[]) => unknown): { dispose(): void } {
        if (state.commands.has(id)) {
            throw new Error(`command '${id}' already exists`); // as VS Code refuses it
        }
        state.commands.set(id, run);
        return { dispose: () => state.commands.delete(id) };
    },
};

export const window = {
    createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): FakeStatusBarItem {
        const item = new FakeStatusBarItem(id, alignment, priority);
        state.statusBarItems.push(item);
        return item;
    },
};

export const workspace = {
    getConfiguration(section: string) {
        return {
            get<T>(key: string): T | undefined {
                return state.settings[`${section}.${key}`] as T | undefined;
            },
        };
    },
    getWorkspaceFolder(uri: { toString(): string }): FakeFolder | undefined {
        return state.folders.get(uri.toString());
    },
};
