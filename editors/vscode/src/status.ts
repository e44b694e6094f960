/**
 * The status bar item: the server of the active editor's workspace folder, its state and model, and in the
 * tooltip the model's evaluation (base against tuned on held-out commits). Clicking it opens the command menu.
 *
 * {@link describeStatus} turns a server's state into what the item shows; {@link StatusBar} only puts that on
 * screen.
 */

import * as vscode from 'vscode';
import type { AssistantStatus, EvalSummary } from './protocol';

/** Where a folder's server is, as the extension sees it (the server's own state comes on top, once running). */
export type Phase = 'starting' | 'running' | 'failed' | 'stopped';

export interface ServerView {
    folderName: string;
    phase: Phase;
    /** The last `$/assistant/status` the server sent. */
    status?: AssistantStatus;
    /** Why the server is not running, when `phase` is `failed`. */
    failure?: string;
}

/** One tooltip line: a bold label, then plain text (escaped when rendered). */
export interface TooltipLine {
    label?: string;
    text: string;
}

export interface StatusLook {
    text: string;
    tooltip: TooltipLine[];
    level: 'normal' | 'warning' | 'error';
}

/** A model name short enough for a status bar: of "BASE + MODEL DIR" the base, of a path its last part. */
export function shortModel(model: string): string {
    const base = (model.split(' + ')[0] ?? model).trim().replace(/[/\\]+$/, '');
    const parts = base.split(/[/\\]/);
    return parts[parts.length - 1] || base;
}

const VERDICTS: Record<string, string> = {
    better: 'the tuned model beats the base',
    worse: 'the tuned model is worse than the base',
    'no clear difference': 'no clear difference between tuned and base',
};

function fixed(value: unknown, digits: number): string | undefined {
    return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : undefined;
}

function signed(value: number): string {
    return (value >= 0 ? '+' : '') + value.toFixed(3);
}

function percent(value: unknown): string | undefined {
    return typeof value === 'number' && Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : undefined;
}

/**
 * The evaluation summary of model.json in a few lines: the verdict, edit similarity of tuned against base with
 * the 95% interval of the difference, exact match, and HumanEval pass@k when measured. Fields that are missing
 * are left out; no summary gives no lines.
 */
export function evalLines(summary: EvalSummary | null | undefined): TooltipLine[] {
    if (!summary) {
        return [];
    }
    const lines: TooltipLine[] = [];
    const verdict = summary.verdict !== undefined ? VERDICTS[summary.verdict] ?? summary.verdict : undefined;
    if (verdict !== undefined) {
        const count = typeof summary.heldout_examples === 'number'
            ? ` (${summary.heldout_examples} held-out completions)` : '';
        lines.push({ label: 'Evaluation', text: verdict + count });
    }
    const tunedEdit = fixed(summary.tuned?.edit_similarity, 3);
    const baseEdit = fixed(summary.base?.edit_similarity, 3);
    if (tunedEdit !== undefined && baseEdit !== undefined) {
        const delta = summary.delta?.edit_similarity;
        const interval = delta && [delta.mean, delta.low, delta.high].every((v) => typeof v === 'number')
            ? ` (${signed(delta.mean)}, 95% CI ${signed(delta.low)} .. ${signed(delta.high)})` : '';
        lines.push({ label: 'Edit similarity', text: `tuned ${tunedEdit} vs base ${baseEdit}${interval}` });
    }
    const tunedExact = percent(summary.tuned?.exact_match);
    const baseExact = percent(summary.base?.exact_match);
    if (tunedExact !== undefined && baseExact !== undefined) {
        lines.push({ label: 'Exact match', text: `tuned ${tunedExact} vs base ${baseExact}` });
    }
    const humaneval = summary.humaneval;
    if (humaneval) {
        const passes = Object.keys(humaneval).filter((k) => k.startsWith('pass@')).sort()
            .map((k) => `${k} ${percent(humaneval[k]) ?? '-'}`);
        if (passes.length > 0) {
            const problems = typeof humaneval.problems === 'number' ? ` (${humaneval.problems} problems)` : '';
            lines.push({ label: 'HumanEval', text: passes.join(', ') + problems });
        }
    }
    return lines;
}

const ICONS: Record<string, string> = {
    starting: '$(loading~spin)',
    loading: '$(loading~spin)',
    generating: '$(sync~spin)',
    ready: '$(sparkle)',
    error: '$(error)',
    failed: '$(error)',
    stopped: '$(circle-slash)',
    off: '$(circle-slash)',
    none: '$(circle-outline)',
};

/**
 * What the status bar shows for the active editor's server (`view`, undefined when the editor has none) while
 * ghost text is on or off there.
 */
export function describeStatus(view: ServerView | undefined, ghostTextOn: boolean): StatusLook {
    if (view === undefined) {
        return {
            text: `${ICONS.none} assistant`,
            tooltip: [
                { label: 'repo-assistant', text: 'no server for this editor' },
                { text: 'Servers start for files of a workspace folder, in languages not in repoAssistant.disabledLanguages.' },
                { text: 'Click for commands.' },
            ],
            level: 'normal',
        };
    }
    const status = view.phase === 'running' ? view.status : undefined;
    const state = view.phase === 'running' ? status?.state ?? 'starting' : view.phase;
    const model = status && status.model !== '' && state !== 'error' ? shortModel(status.model) : '';
    const word = !ghostTextOn && (state === 'ready' || state === 'generating') ? 'off' : state;
    const text = `${ICONS[word] ?? ICONS.none} assistant: ${word === 'failed' ? 'not running' : word}`
        + (model !== '' ? ` (${model})` : '');
    const tooltip: TooltipLine[] = [
        { label: 'repo-assistant', text: state === 'failed' ? 'the server is not running' : state },
        { label: 'Workspace folder', text: view.folderName },
    ];
    if (status && status.model !== '') {
        tooltip.push({ label: 'Model', text: status.model });
    }
    const message = view.phase === 'failed' ? view.failure ?? '' : status?.message ?? '';
    if (message !== '') {
        tooltip.push({ label: 'Message', text: message });
    }
    tooltip.push(...evalLines(status?.eval));
    tooltip.push({ label: 'Ghost text', text: ghostTextOn ? 'on' : 'off here (repoAssistant.enable, repoAssistant.disabledLanguages)' });
    tooltip.push({ text: 'Click for commands.' });
    const level = state === 'error' || state === 'failed' ? 'error' : state === 'stopped' ? 'warning' : 'normal';
    return { text, tooltip, level };
}

/** The one status bar item of the extension. */
export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;

    /** @param command the command a click runs (the menu of repo-assistant commands). */
    constructor(command: string) {
        this.item = vscode.window.createStatusBarItem('repoAssistant.status', vscode.StatusBarAlignment.Right, 100);
        this.item.name = 'repo-assistant';
        this.item.command = command;
    }

    show(look: StatusLook): void {
        this.item.text = look.text;
        const tooltip = new vscode.MarkdownString();
        tooltip.supportThemeIcons = false;
        for (const line of look.tooltip) {
            if (line.label !== undefined) {
                tooltip.appendMarkdown('**');
                tooltip.appendText(line.label);
                tooltip.appendMarkdown(':** ');
            }
            tooltip.appendText(line.text);
            tooltip.appendMarkdown('\n\n');
        }
        this.item.tooltip = tooltip;
        this.item.backgroundColor = look.level === 'normal'
            ? undefined
            : new vscode.ThemeColor(look.level === 'error' ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground');
        this.item.show();
    }

    dispose(): void {
        this.item.dispose();
    }
}
