/**
 * The extension's settings (`repoAssistant.*` in package.json, where each has its description and default)
 * and the command lines built from them.
 *
 * Everything here is plain data in, plain data out: the `vscode` module only reaches it through
 * {@link ConfigurationLike}, so the unit tests read settings from a plain object.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

/** The settings section: `repoAssistant.serverPath` and the others. */
export const SECTION = 'repoAssistant';

export interface Settings {
    /** The `assistant` program: a name looked up on PATH, or a path (absolute, `~/...`, or relative to the folder). */
    serverPath: string;
    /** Extra arguments after `assistant serve`, e.g. `["--backend", "llama-cpp"]`. */
    serverArgs: string[];
    /** Ghost text on or off (the `repo-assistant.toggle` command flips it). */
    enable: boolean;
    /** VS Code language ids that never get ghost text. */
    disabledLanguages: string[];
}

/** The defaults, as package.json declares them (a unit test holds the two together). */
export const DEFAULTS: Readonly<Settings> = Object.freeze({
    serverPath: 'assistant',
    serverArgs: [],
    enable: true,
    disabledLanguages: ['git-commit', 'git-rebase', 'log'],
});

/** The part of `vscode.WorkspaceConfiguration` read here. */
export interface ConfigurationLike {
    get<T>(key: string): T | undefined;
}

function isStringArray(value: unknown): value is string[] {
    return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The settings, each falling back to its default when unset or of the wrong type (a hand-edited JSON). */
export function readSettings(config: ConfigurationLike): Settings {
    const serverPath = config.get<unknown>('serverPath');
    const serverArgs = config.get<unknown>('serverArgs');
    const enable = config.get<unknown>('enable');
    const disabledLanguages = config.get<unknown>('disabledLanguages');
    return {
        serverPath: typeof serverPath === 'string' && serverPath.trim() !== '' ? serverPath.trim() : DEFAULTS.serverPath,
        serverArgs: isStringArray(serverArgs) ? [...serverArgs] : [...DEFAULTS.serverArgs],
        enable: typeof enable === 'boolean' ? enable : DEFAULTS.enable,
        disabledLanguages: isStringArray(disabledLanguages) ? [...disabledLanguages] : [...DEFAULTS.disabledLanguages],
    };
}

/** Whether documents of `languageId` get ghost text now. */
export function ghostTextEnabled(settings: Settings, languageId: string): boolean {
    return settings.enable && !settings.disabledLanguages.includes(languageId);
}

/**
 * `serverPath` as a program to run: `${workspaceFolder}` and a leading `~` expanded, and a relative path that
 * names a directory (`.venv/bin/assistant`) taken from the workspace folder. A bare name stays a name.
 */
export function expandServerPath(serverPath: string, folder: string, home: string): string {
    let value = serverPath.split('${workspaceFolder}').join(folder);
    if (value === '~' || value.startsWith('~/') || value.startsWith('~\\')) {
        value = path.join(home, value.slice(1));
    }
    const hasSeparator = value.includes('/') || (path.sep === '\\' && value.includes('\\'));
    if (hasSeparator && !path.isAbsolute(value)) {
        value = path.join(folder, value);
    }
    return value;
}

/** A program and its arguments, run in `cwd`. */
export interface CommandLine {
    command: string;
    args: string[];
    cwd: string;
}

/** `assistant serve ... --stdio` for the workspace folder `folder`, which is also its working directory. */
export function serverCommand(settings: Settings, folder: string, home: string): CommandLine {
    return {
        command: expandServerPath(settings.serverPath, folder, home),
        args: ['serve', ...settings.serverArgs, '--stdio'],
        cwd: folder,
    };
}

/** `assistant <args>` (train, stats) for the workspace folder `folder`. */
export function cliCommand(settings: Settings, folder: string, home: string, args: string[]): CommandLine {
    return { command: expandServerPath(settings.serverPath, folder, home), args, cwd: folder };
}

function isExecutableFile(file: string, platform: NodeJS.Platform): boolean {
    try {
        if (!fs.statSync(file).isFile()) {
            return false;
        }
        fs.accessSync(file, platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/**
 * The file `command` runs: itself when it is a path, else the first match on PATH (with PATHEXT's extensions
 * on Windows). Undefined when there is none, which the extension reports instead of starting a server that
 * cannot start.
 */
export function findExecutable(
    command: string,
    env: NodeJS.ProcessEnv = process.env,
    platform: NodeJS.Platform = process.platform,
): string | undefined {
    const extensions = platform === 'win32'
        ? ['', ...(env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((e) => e !== '')]
        : [''];
    const candidates = (base: string): string[] => extensions.map((ext) => base + ext);
    if (path.isAbsolute(command)) {
        return candidates(command).find((file) => isExecutableFile(file, platform));
    }
    const pathValue = env.PATH ?? env.Path ?? '';
    for (const dir of pathValue.split(path.delimiter)) {
        if (dir === '') {
            continue;
        }
        const found = candidates(path.join(dir, command)).find((file) => isExecutableFile(file, platform));
        if (found !== undefined) {
            return found;
        }
    }
    return undefined;
}

/** What to tell the user when `serverPath` names no executable: what is wrong and the setting that fixes it. */
export function notFoundMessage(command: string): string {
    const what = path.isAbsolute(command) ? `\`${command}\` is not an executable file` : `\`${command}\` is not on PATH`;
    return `cannot run the assistant program: ${what}. Set repoAssistant.serverPath to the \`assistant\` of the `
        + 'virtualenv repo-assistant is installed in (e.g. ~/src/repo-assistant/.venv/bin/assistant).';
}

/** What `vscode.WorkspaceConfiguration.inspect` tells about one setting, as far as toggling needs it. */
export interface SettingLevels<T> {
    globalValue?: T;
    workspaceValue?: T;
    workspaceFolderValue?: T;
}

export type SettingTarget = 'global' | 'workspace';

/**
 * Where toggling `enable` must write so that it takes effect: the workspace when the workspace sets it (a user
 * value would be shadowed), else the user settings.
 */
export function toggleTarget(levels: SettingLevels<boolean> | undefined): SettingTarget {
    return levels?.workspaceValue !== undefined ? 'workspace' : 'global';
}
