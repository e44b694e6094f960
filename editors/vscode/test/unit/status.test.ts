/** The status bar item: text per state, model names, the evaluation summary in the tooltip. */

import '../fakes/register';
import * as assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { EvalSummary } from '../../src/protocol';
import { ServerView, StatusBar, TooltipLine, describeStatus, evalLines, shortModel } from '../../src/status';
import * as fake from '../fakes/vscode';

/** A summary as `assistant eval` writes it into model.json (trainer/evaluation/evaluate.py, EvalResult.summary). */
const SUMMARY: EvalSummary = {
    heldout_examples: 40,
    base: { exact_match: 0.025, first_line_match: 0.05, edit_similarity: 0.4012, chrf: 20.1, bleu: 5.2 },
    tuned: { exact_match: 0.175, first_line_match: 0.3, edit_similarity: 0.6123, chrf: 41.2, bleu: 22.9 },
    delta: {
        edit_similarity: { mean: 0.2111, low: 0.15, high: 0.2702 },
        exact_match: { mean: 0.15, low: 0.05, high: 0.25 },
    },
    verdict: 'better',
};

function running(state: 'loading' | 'ready' | 'generating' | 'error', extra: Partial<ServerView> = {}): ServerView {
    return {
        folderName: 'shop',
        phase: 'running',
        status: { state, model: 'tiny-nano + /home/me/shop/.assistant/model', message: '', eval: null },
        ...extra,
    };
}

function tooltipText(lines: TooltipLine[]): string {
    return lines.map((line) => (line.label !== undefined ? `${line.label}: ${line.text}` : line.text)).join('\n');
}

describe('shortModel', () => {
    test('keeps the base of "BASE + MODEL DIR", and the last part of a path', () => {
        assert.equal(shortModel('tiny-nano + /home/me/shop/.assistant/model'), 'tiny-nano');
        assert.equal(shortModel('Qwen/Qwen2.5-Coder-0.5B + /w/.assistant/model'), 'Qwen2.5-Coder-0.5B');
        assert.equal(shortModel('/w/.assistant/model/'), 'model');
        assert.equal(shortModel('starcoder'), 'starcoder');
    });
});

describe('evalLines', () => {
    test('verdict, edit similarity base vs tuned with its interval, exact match', () => {
        assert.deepEqual(evalLines(SUMMARY), [
            { label: 'Evaluation', text: 'the tuned model beats the base (40 held-out completions)' },
            { label: 'Edit similarity', text: 'tuned 0.612 vs base 0.401 (+0.211, 95% CI +0.150 .. +0.270)' },
            { label: 'Exact match', text: 'tuned 17.5% vs base 2.5%' },
        ]);
    });

    test('a worse model and a negative interval', () => {
        const worse: EvalSummary = { ...SUMMARY, verdict: 'worse', delta: { edit_similarity: { mean: -0.1, low: -0.2, high: -0.01 } } };
        assert.equal(evalLines(worse)[0]?.text, 'the tuned model is worse than the base (40 held-out completions)');
        assert.equal(evalLines(worse)[1]?.text, 'tuned 0.612 vs base 0.401 (-0.100, 95% CI -0.200 .. -0.010)');
    });

    test('HumanEval pass@k when it was measured', () => {
        const lines = evalLines({ humaneval: { 'pass@1': 0.1234, 'pass@10': 0.3, problems: 164, source: 'package' } });
        assert.deepEqual(lines, [{ label: 'HumanEval', text: 'pass@1 12.3%, pass@10 30.0% (164 problems)' }]);
    });

    test('no summary, or fields missing, gives only what is there', () => {
        assert.deepEqual(evalLines(null), []);
        assert.deepEqual(evalLines({}), []);
        assert.deepEqual(evalLines({ verdict: 'no clear difference' }),
            [{ label: 'Evaluation', text: 'no clear difference between tuned and base' }]);
        assert.deepEqual(evalLines({ base: { edit_similarity: 0.5 }, tuned: { edit_similarity: 0.5 } }),
            [{ label: 'Edit similarity', text: 'tuned 0.500 vs base 0.500' }]);
    });
});

describe('describeStatus', () => {
    test('ready: state and short model name; the tooltip has the full model and the evaluation', () => {
        const view = running('ready');
        view.status = { ...view.status!, eval: SUMMARY };
        const look = describeStatus(view, true);
        assert.equal(look.text, '$(sparkle) assistant: ready (tiny-nano)');
        assert.equal(look.level, 'normal');
        const tooltip = tooltipText(look.tooltip);
        assert.match(tooltip, /Model: tiny-nano \+ \/home\/me\/shop\/\.assistant\/model/);
        assert.match(tooltip, /Workspace folder: shop/);
        assert.match(tooltip, /Evaluation: the tuned model beats the base/);
        assert.match(tooltip, /Edit similarity: tuned 0\.612 vs base 0\.401/);
        assert.match(tooltip, /Ghost text: on/);
    });

    test('each server state has its text', () => {
        assert.equal(describeStatus(running('loading'), true).text, '$(loading~spin) assistant: loading (tiny-nano)');
        assert.equal(describeStatus(running('generating'), true).text, '$(sync~spin) assistant: generating (tiny-nano)');
        assert.equal(describeStatus({ folderName: 'shop', phase: 'starting' }, true).text, '$(loading~spin) assistant: starting');
        assert.equal(describeStatus({ folderName: 'shop', phase: 'running' }, true).text, '$(loading~spin) assistant: starting');
        assert.equal(describeStatus({ folderName: 'shop', phase: 'stopped' }, true).level, 'warning');
    });

    test('an error shows the server message, not the model name', () => {
        const view = running('error');
        view.status = { ...view.status!, model: '/home/me/shop/.assistant/model', message: 'no model to serve: run `assistant train`' };
        const look = describeStatus(view, true);
        assert.equal(look.text, '$(error) assistant: error');
        assert.equal(look.level, 'error');
        assert.match(tooltipText(look.tooltip), /Message: no model to serve: run `assistant train`/);
    });

    test('a server that could not start shows why', () => {
        const look = describeStatus({ folderName: 'shop', phase: 'failed', failure: '`assistant` is not on PATH' }, true);
        assert.equal(look.text, '$(error) assistant: not running');
        assert.equal(look.level, 'error');
        assert.match(tooltipText(look.tooltip), /Message: `assistant` is not on PATH/);
    });

    test('ghost text off shows "off" while the server is ready', () => {
        assert.equal(describeStatus(running('ready'), false).text, '$(circle-slash) assistant: off (tiny-nano)');
        assert.equal(describeStatus(running('loading'), false).text, '$(loading~spin) assistant: loading (tiny-nano)');
        assert.match(tooltipText(describeStatus(running('ready'), false).tooltip), /Ghost text: off here/);
    });

    test('an editor without a server still offers the commands', () => {
        const look = describeStatus(undefined, true);
        assert.equal(look.text, '$(circle-outline) assistant');
        assert.match(tooltipText(look.tooltip), /Click for commands/);
    });
});

describe('StatusBar', () => {
    beforeEach(() => {
        fake.state.statusBarItems.length = 0;
    });

    test('shows the look on one right-aligned item that opens the menu, with an escaped Markdown tooltip', () => {
        const bar = new StatusBar('repo-assistant.menu');
        const [item] = fake.state.statusBarItems;
        assert.ok(item);
        assert.equal(item.alignment, fake.StatusBarAlignment.Right);
        assert.equal(item.command, 'repo-assistant.menu');
        const view = running('error');
        view.status = { ...view.status!, message: 'bad *value* in [server]' };
        bar.show(describeStatus(view, true));
        assert.equal(item.visible, true);
        assert.equal(item.text, '$(error) assistant: error');
        assert.ok(item.tooltip instanceof fake.MarkdownString);
        assert.match(item.tooltip.value, /\*\*Message:\*\* bad \\\*value\\\* in \\\[server\\\]/);
        assert.equal((item.backgroundColor as fake.ThemeColor).id, 'statusBarItem.errorBackground');
        bar.show(describeStatus(running('ready'), true));
        assert.equal(item.backgroundColor, undefined);
        bar.dispose();
        assert.equal(item.disposed, true);
    });
});
