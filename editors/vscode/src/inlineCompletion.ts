/**
 * Ghost text: VS Code's InlineCompletionItemProvider, answered by `textDocument/inlineCompletion`.
 *
 * vscode-languageclient 9 has an inline completion feature, but it cannot carry the feedback: VS Code calls
 * `handleDidShowCompletionItem` and `handleDidPartiallyAcceptCompletionItem` only on the provider object it
 * was given at registration, and the library's provider has neither. It also sends the LSP 3.17 proposal's
 * trigger kinds, which a 3.18 server rejects. So this client feature registers its own provider, with the
 * request built by `protocol.ts`, when the server announces `inlineCompletionProvider`.
 *
 * Tab (accept), accept word (`editor.action.inlineSuggest.acceptNextWord`) and Escape are VS Code's own; on a
 * full accept VS Code runs the item's command, `repo-assistant.accept`, which `commands.ts` routes to the
 * server that made the item.
 */

import * as vscode from 'vscode';
import type {
    BaseLanguageClient,
    ClientCapabilities,
    DocumentSelector,
    FeatureState,
    ServerCapabilities,
    StaticFeature,
} from 'vscode-languageclient/node';
import { SECTION, ghostTextEnabled, readSettings } from './config';
import { errorText } from './errors';
import { inlineCompletionParams, requestInlineCompletion } from './protocol';
import type { CompletionFeedback, PartialAcceptArgument } from './telemetry';

/** The provider of one workspace folder's server. */
export class GhostTextProvider implements vscode.InlineCompletionItemProvider {
    constructor(
        private readonly client: BaseLanguageClient,
        private readonly folder: vscode.WorkspaceFolder,
        private readonly feedback: CompletionFeedback,
    ) {}

    async provideInlineCompletionItems(
        document: vscode.TextDocument,
        position: vscode.Position,
        context: vscode.InlineCompletionContext,
        token: vscode.CancellationToken,
    ): Promise<vscode.InlineCompletionItem[] | undefined> {
        if (!ghostTextEnabled(readSettings(vscode.workspace.getConfiguration(SECTION, document.uri)), document.languageId)) {
            return undefined;
        }
        // With the suggest widget open VS Code shows only ghost text that extends the selected suggestion; the
        // server does not write such text, so a request would cost a model call for nothing.
        if (context.selectedCompletionInfo !== undefined) {
            return undefined;
        }
        // Nested workspace folders: the innermost folder's server answers, not every server whose folder holds
        // the file.
        if (vscode.workspace.getWorkspaceFolder(document.uri)?.uri.toString() !== this.folder.uri.toString()) {
            return undefined;
        }
        const params = inlineCompletionParams(
            this.client.code2ProtocolConverter.asUri(document.uri),
            { line: position.line, character: position.character },
            context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
        );
        let items;
        try {
            items = await requestInlineCompletion(this.client, params, token);
        } catch (error) {
            if (!token.isCancellationRequested) {
                this.client.outputChannel.appendLine(
                    `inline completion failed: ${errorText(error)}`);
            }
            return undefined;
        }
        if (token.isCancellationRequested) {
            return undefined;
        }
        return items.map((item) => {
            const shown = this.client.protocol2CodeConverter.asInlineCompletionItem(item);
            this.feedback.remember(shown, item, this.client);
            return shown;
        });
    }

    /** Called by VS Code (proposed API `inlineCompletionsAdditions`) when it displays an item. */
    handleDidShowCompletionItem(item: vscode.InlineCompletionItem): void {
        void this.feedback.shown(item);
    }

    /** Called by VS Code (proposed API `inlineCompletionsAdditions`) after accept word / accept line. */
    handleDidPartiallyAcceptCompletionItem(item: vscode.InlineCompletionItem, info: PartialAcceptArgument): void {
        void this.feedback.partiallyAccepted(item, info);
    }
}

/** Ghost text as a vscode-languageclient feature: registered when the server supports it, gone when it stops. */
export class InlineCompletionFeature implements StaticFeature {
    private registration: vscode.Disposable | undefined;

    constructor(
        private readonly client: BaseLanguageClient,
        private readonly folder: vscode.WorkspaceFolder,
        private readonly feedback: CompletionFeedback,
    ) {}

    fillClientCapabilities(capabilities: ClientCapabilities): void {
        capabilities.textDocument = capabilities.textDocument ?? {};
        capabilities.textDocument.inlineCompletion = { dynamicRegistration: false };
    }

    initialize(capabilities: ServerCapabilities, documentSelector: DocumentSelector | undefined): void {
        if (!capabilities.inlineCompletionProvider || documentSelector === undefined) {
            return;
        }
        this.registration?.dispose();
        this.registration = vscode.languages.registerInlineCompletionItemProvider(
            this.client.protocol2CodeConverter.asDocumentSelector(documentSelector),
            new GhostTextProvider(this.client, this.folder, this.feedback),
        );
    }

    getState(): FeatureState {
        return { kind: 'static' };
    }

    clear(): void {
        this.registration?.dispose();
        this.registration = undefined;
    }
}
