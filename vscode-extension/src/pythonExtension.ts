// The interpreter selected in the Python extension (ms-python.python), when it is installed.
// Only its public API is used; every call is guarded, since its shape changed over versions.

import * as vscode from "vscode";

const PYTHON_EXTENSION = "ms-python.python";

interface EnvironmentPath { path: string }
interface ResolvedEnvironment { executable?: { uri?: vscode.Uri } }
interface PythonApi {
    environments?: {
        getActiveEnvironmentPath?(resource?: vscode.Uri): EnvironmentPath | undefined;
        resolveEnvironment?(env: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
        onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
    };
    settings?: {
        getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] } | undefined;
        onDidChangeExecutionDetails?: vscode.Event<unknown>;
    };
}

async function api(): Promise<PythonApi | undefined> {
    const ext = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
    if (!ext) {
        return undefined;
    }
    try {
        return ext.isActive ? ext.exports : await ext.activate();
    } catch {
        return undefined;
    }
}

/** The selected interpreter's executable for a folder, or undefined. */
export async function selectedInterpreter(resource: vscode.Uri): Promise<string | undefined> {
    const python = await api();
    if (!python) {
        return undefined;
    }
    try {
        const envs = python.environments;
        const active = envs?.getActiveEnvironmentPath?.(resource);
        if (active && envs?.resolveEnvironment) {
            const resolved = await envs.resolveEnvironment(active);
            const exe = resolved?.executable?.uri?.fsPath;
            if (exe) {
                return exe;
            }
        }
        const cmd = python.settings?.getExecutionDetails?.(resource)?.execCommand;
        if (cmd && cmd.length === 1 && cmd[0]) {
            return cmd[0];
        }
        return active?.path || undefined;
    } catch {
        return undefined;
    }
}

/** Calls `listener` when the user picks another interpreter. */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
    const python = await api();
    const event = python?.environments?.onDidChangeActiveEnvironmentPath
        ?? python?.settings?.onDidChangeExecutionDetails;
    return event ? event(() => listener()) : undefined;
}
