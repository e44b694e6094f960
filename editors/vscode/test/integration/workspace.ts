/**
 * A workspace with a trained tiny model for the integration test, and running the real `assistant` CLI.
 *
 * The CLI is `$ASSISTANT_CLI`, else the `.venv/bin/assistant` of this checkout (`bash .ci/setup`). The
 * workspace is a copy of `$REPO_ASSISTANT_TEST_WORKSPACE` when set (the Python suite passes the workspace its
 * own tests trained, which saves a training run), else a git repository made here and trained with
 * `assistant train --base tiny --tiny-size nano --max-steps 40 --no-eval`.
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CHECKOUT = path.resolve(__dirname, '../../../../..');

/** No test touches the network: the model is made here. */
export const OFFLINE_ENV = { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' };

export function assistantCli(): string {
    const cli = process.env.ASSISTANT_CLI ?? path.join(CHECKOUT, '.venv', 'bin', 'assistant');
    if (!fs.existsSync(cli)) {
        throw new Error(`the integration test runs the real server, and ${cli} does not exist: run \`bash .ci/setup\` `
            + 'in the checkout, or set ASSISTANT_CLI to an `assistant` program');
    }
    return cli;
}

export interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

/** Run `program args` to the end (no shell), with the offline environment. */
export function run(program: string, args: string[], cwd: string, timeoutMs = 600_000): Promise<Run> {
    return new Promise((resolve) => {
        execFile(program, args, { cwd, env: OFFLINE_ENV, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
            (error, stdout, stderr) => {
                const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
                resolve({ code, stdout, stderr });
            });
    });
}

/** Source with a strong, learnable pattern: small handlers that all look alike (as tests/helpers.py writes). */
export function patternModule(i: number): string {
    const lines = [`"""Handlers, part ${i}."""`, '', 'from registry import register', ''];
    for (let k = 0; k < 12; k++) {
        const name = `handle_${i}_${k}`;
        lines.push(`@register('${name}')`, `def ${name}(request):`, `    value = request.get('${name}')`,
            '    if value is None:', '        return None', '    return value * 2', '');
    }
    return lines.join('\n') + '\n';
}

async function git(root: string, args: string[], date?: number): Promise<void> {
    const stamp = date === undefined ? {} : { GIT_AUTHOR_DATE: `@${date} +0000`, GIT_COMMITTER_DATE: `@${date} +0000` };
    const result = await new Promise<Run>((resolve) => {
        execFile('git', ['-C', root, ...args], {
            env: { ...process.env, GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.com',
                GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.com', ...stamp },
        }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : 1, stdout, stderr }));
    });
    if (result.code !== 0) {
        throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`);
    }
}

async function trainedHere(root: string): Promise<void> {
    await git(root, ['init', '-q', '-b', 'main']);
    for (let i = 0; i < 6; i++) {
        const file = path.join(root, 'pkg', `handlers_${i}.py`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, patternModule(i));
        await git(root, ['add', '-A']);
        await git(root, ['commit', '-q', '-m', `handlers ${i}`], 1_700_000_000 + 3600 * (i + 1));
    }
    const train = await run(assistantCli(), ['train', '--repo', root, '--base', 'tiny', '--tiny-size', 'nano',
        '--max-steps', '40', '--no-eval'], root);
    if (train.code !== 0) {
        throw new Error(`assistant train failed (${train.code}): ${train.stderr.slice(-3000)}`);
    }
}

/**
 * A fresh workspace with a trained model and no telemetry yet. `assistant.toml` gives the server a generous
 * time budget: the test compares whole completions, not what fits in a keystroke's budget.
 */
export async function prepareWorkspace(): Promise<string> {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ra-vscode-')), 'workspace');
    const given = process.env.REPO_ASSISTANT_TEST_WORKSPACE;
    if (given !== undefined && given !== '') {
        fs.cpSync(given, root, {
            recursive: true,
            filter: (source) => !source.startsWith(path.join(given, '.assistant', 'telemetry')),
        });
    } else {
        fs.mkdirSync(root, { recursive: true });
        await trainedHere(root);
    }
    if (!fs.existsSync(path.join(root, '.assistant', 'model', 'model.json'))) {
        throw new Error(`${root} has no trained model`);
    }
    fs.writeFileSync(path.join(root, 'assistant.toml'), '[server]\ntime_budget_ms = 60000\n');
    return root;
}
