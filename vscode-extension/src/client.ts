// The language client for one trimtab project (a folder holding trimtab.toml, or a
// workspace folder configured with `trimtab.schema`).

import * as vscode from "vscode";
import {
    ExecuteCommandRequest,
    LanguageClient,
    type LanguageClientOptions,
    type ServerOptions,
    TransportKind,
} from "vscode-languageclient/node";
import type { ServerLaunch } from "./interpreter";
import { documentSelector } from "./languages";

type Feature = Parameters<LanguageClient["registerFeature"]>[0];

/**
 * A LanguageClient that leaves the server's commands to the extension. The stock
 * ExecuteCommandFeature registers every command the server lists (`trimtab.push`, ...) as a
 * VS Code command; a second project (multi-root) would register them again, which VS Code
 * refuses. The extension registers each of them once and routes it to the project that owns
 * the file in its first argument.
 */
export class TrimtabLanguageClient extends LanguageClient {
    override registerFeature(feature: Feature): void {
        const method = (feature as { registrationType?: { method?: string } }).registrationType?.method;
        if (method === ExecuteCommandRequest.method) {
            return;
        }
        super.registerFeature(feature);
    }

    /** The commands the server offers (from its initialize result). */
    serverCommands(): string[] {
        return this.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    }
}

export interface ClientParts {
    id: string;
    name: string;
    root: vscode.Uri;
    launch: ServerLaunch;
    /** The server's working directory (outside an untrusted folder: see serverCwd). */
    cwd: string;
    outputChannel: vscode.LogOutputChannel;
    initializationOptions: () => unknown;
    middleware: LanguageClientOptions["middleware"];
    drizzle: boolean; // a drizzle.config.ts project: its schema is TypeScript
}

export function createClient(p: ClientParts): TrimtabLanguageClient {
    const server = {
        command: p.launch.command,
        args: p.launch.args,
        transport: TransportKind.stdio, // appends --stdio, which `trimtab lsp` accepts
        options: { cwd: p.cwd, env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    };
    const serverOptions: ServerOptions = { run: server, debug: server };
    const clientOptions: LanguageClientOptions = {
        // A Drizzle project's schema is TypeScript; the server ignores the .ts files that are not it.
        documentSelector: documentSelector(p.root.toString(), p.drizzle),
        // The server sees this project's folder only; it is also the settings' scope.
        workspaceFolder: { uri: p.root, name: p.name, index: 0 },
        outputChannel: p.outputChannel,
        traceOutputChannel: p.outputChannel,
        diagnosticCollectionName: "trimtab",
        initializationOptions: p.initializationOptions,
        middleware: p.middleware,
        markdown: { isTrusted: false, supportHtml: false },
        connectionOptions: { maxRestartCount: 4 },
    };
    return new TrimtabLanguageClient(p.id, "trimtab", serverOptions, clientOptions);
}
