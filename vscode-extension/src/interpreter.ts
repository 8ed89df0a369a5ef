// Finding the program that runs the trimtab language server. Pure: no `vscode` import, so
// node's test runner can exercise it.

import * as path from "node:path";

/** Where a launch candidate came from, as the user would name it. */
export type LaunchSource =
    | "trimtab.server.path"
    | "trimtab.python"
    | "Python extension"
    | "default"
    | "PATH";

export interface ServerLaunch {
    /** `python`: an interpreter that must import trimtab; `executable`: the `trimtab` program. */
    kind: "python" | "executable";
    command: string;
    /** Arguments that start the language server (the client appends `--stdio`). */
    args: string[];
    source: LaunchSource;
}

export interface InterpreterSettings {
    serverPath?: string;
    python?: string;
}

export interface DiscoveryContext {
    /** The workspace folder (absolute): `${workspaceFolder}` and relative paths resolve to it. */
    folder?: string;
    home: string;
    env: Record<string, string | undefined>;
    platform: NodeJS.Platform;
    /** The interpreter the Python extension has selected for this folder, when it is installed. */
    pythonExtension?: string;
    /** VS Code's workspace trust (default: trusted). In an untrusted folder nothing the
     * folder holds may run: see `serverCandidates`. */
    trusted?: boolean;
}

/** The module run with `python -m`: `trimtab.cli` works on every released version. */
export const SERVER_MODULE = "trimtab.cli";

/** `~`, `${userHome}`, `${workspaceFolder}`, `${env:NAME}`; relative paths against the folder.
 * A bare command name (`python3`, `trimtab`) is left for the PATH to resolve. */
export function expandPath(value: string, ctx: DiscoveryContext): string {
    let out = value.trim();
    out = out.replace(/\$\{userHome\}/g, ctx.home);
    out = out.replace(/\$\{workspaceFolder\}/g, ctx.folder ?? "");
    out = out.replace(/\$\{env:([^}]+)\}/g, (_, name: string) => ctx.env[name] ?? "");
    if (out === "~") {
        out = ctx.home;
    } else if (out.startsWith("~/") || out.startsWith("~\\")) {
        out = path.join(ctx.home, out.slice(2));
    }
    const p = ctx.platform === "win32" ? path.win32 : path.posix;
    const bare = !out.includes("/") && !out.includes("\\");
    if (!bare && !p.isAbsolute(out) && ctx.folder) {
        out = p.join(ctx.folder, out);
    }
    return out;
}

/** Whether a path names a Python interpreter rather than the trimtab executable. */
export function looksLikePython(file: string): boolean {
    const base = file.split(/[\\/]/).pop() ?? file;
    return /^python(\d+(\.\d+)*)?(w)?(\.exe)?$/i.test(base);
}

function pythonLaunch(command: string, source: LaunchSource): ServerLaunch {
    return { kind: "python", command, args: ["-m", SERVER_MODULE, "lsp"], source };
}

function executableLaunch(command: string, source: LaunchSource): ServerLaunch {
    return { kind: "executable", command, args: ["lsp"], source };
}

/** Whether `command` (already expanded) is a file inside the workspace folder. A bare
 * name is the PATH's, not the folder's. */
export function insideFolder(command: string, ctx: DiscoveryContext): boolean {
    if (!ctx.folder || (!command.includes("/") && !command.includes("\\"))) {
        return false;
    }
    const p = ctx.platform === "win32" ? path.win32 : path.posix;
    const rel = p.relative(ctx.folder, command);
    return rel === "" || (!rel.startsWith("..") && !p.isAbsolute(rel));
}

function configuredLaunch(settings: InterpreterSettings, ctx: DiscoveryContext): ServerLaunch | undefined {
    const serverPath = settings.serverPath?.trim();
    if (serverPath) {
        const file = expandPath(serverPath, ctx);
        return looksLikePython(file) ? pythonLaunch(file, "trimtab.server.path")
            : executableLaunch(file, "trimtab.server.path");
    }
    const python = settings.python?.trim();
    return python ? pythonLaunch(expandPath(python, ctx), "trimtab.python") : undefined;
}

/**
 * A configured interpreter that an untrusted folder's own files provide (a user setting
 * `${workspaceFolder}/.venv/bin/python` in a cloned repository runs the repository's
 * script): it is skipped, and this says why.
 */
export function skippedUntrusted(settings: InterpreterSettings, ctx: DiscoveryContext): string | undefined {
    const launch = ctx.trusted === false ? configuredLaunch(settings, ctx) : undefined;
    return launch && insideFolder(launch.command, ctx)
        ? `${launch.command} (set by ${launch.source}) is inside the workspace, which is not trusted: not run`
        : undefined;
}

/**
 * What to try, in order: `trimtab.server.path` (the trimtab executable, or an interpreter),
 * else `trimtab.python`, else the Python extension's interpreter, else `python3` and then a
 * `trimtab` on the PATH (a pipx install). A configured path is the only candidate: when it
 * is wrong the user must hear about it, not get another interpreter silently.
 *
 * In an untrusted folder (`ctx.trusted === false`) nothing inside the folder runs: the
 * caller passes user-level settings only, a configured path inside the folder is skipped,
 * and the Python extension's choice (often the folder's own `.venv`) is not asked.
 */
export function serverCandidates(settings: InterpreterSettings, ctx: DiscoveryContext): ServerLaunch[] {
    const trusted = ctx.trusted !== false;
    const configured = configuredLaunch(settings, ctx);
    if (configured && (trusted || !insideFolder(configured.command, ctx))) {
        return [configured];
    }
    const out: ServerLaunch[] = [];
    if (trusted && ctx.pythonExtension?.trim()) {
        out.push(pythonLaunch(ctx.pythonExtension.trim(), "Python extension"));
    }
    out.push(pythonLaunch(ctx.platform === "win32" ? "python" : "python3", "default"));
    out.push(executableLaunch(ctx.platform === "win32" ? "trimtab.exe" : "trimtab", "PATH"));
    return out;
}

/**
 * The working directory of the probe and of the server. `python -c` and `python -m` put it
 * first on `sys.path`, so a `trimtab/` or `json.py` at the top of an untrusted folder would
 * be imported: there, the extension's own folder is used (the server takes its project from
 * the client, not from its working directory).
 */
export function serverCwd(root: string, trusted: boolean, extensionDir: string): string {
    return trusted ? root : extensionDir;
}

/** Whether two launches run the same program the same way. */
export function sameLaunch(a: ServerLaunch | undefined, b: ServerLaunch | undefined): boolean {
    return !!a && !!b && a.kind === b.kind && a.command === b.command
        && a.args.join("\0") === b.args.join("\0");
}

/** The command that tells whether a candidate can run the server (prints the version). */
export function probeCommand(launch: ServerLaunch): { command: string; args: string[] } {
    if (launch.kind === "python") {
        return {
            command: launch.command,
            args: ["-c", "import trimtab, trimtab.lsp.server; print(trimtab.__version__)"],
        };
    }
    return { command: launch.command, args: ["--version"] };
}

export interface ProbeOutput {
    /** Exit code; null when the process could not start or was killed. */
    code: number | null;
    stdout: string;
    stderr: string;
    /** The spawn error's code (`ENOENT`, `EACCES`), or `timeout`. */
    error?: string;
}

export type ProbeResult =
    | { ok: true; version: string }
    | { ok: false; reason: "not-found" | "not-installed" | "failed"; detail: string };

export function interpretProbe(launch: ServerLaunch, out: ProbeOutput): ProbeResult {
    if (out.error === "ENOENT" || out.error === "EACCES") {
        return { ok: false, reason: "not-found", detail: `${launch.command}: ${out.error === "ENOENT" ? "no such program" : "permission denied"}` };
    }
    if (out.error) {
        return { ok: false, reason: "failed", detail: `${launch.command}: ${out.error}` };
    }
    if (out.code === 0) {
        const version = out.stdout.trim().split(/\s+/).pop() ?? "";
        return { ok: true, version };
    }
    const stderr = out.stderr.trim();
    if (launch.kind === "python" && /ModuleNotFoundError|No module named/.test(stderr)) {
        return { ok: false, reason: "not-installed", detail: lastLine(stderr) };
    }
    return { ok: false, reason: "failed", detail: lastLine(stderr) || `exit code ${out.code}` };
}

function lastLine(text: string): string {
    const lines = text.split(/\r?\n/).filter((l) => l.trim());
    return lines[lines.length - 1] ?? "";
}

/** The install command for the candidate the user meant. */
export function installCommand(launch: ServerLaunch | undefined): string {
    if (launch?.kind === "python") {
        const q = /\s/.test(launch.command) ? `"${launch.command}"` : launch.command;
        return `${q} -m pip install trimtab`;
    }
    return "pip install trimtab";
}

/** The "not installed" message (a notification: plain text, no markdown). */
export function describeFailure(tried: Array<{ launch: ServerLaunch; result: ProbeResult }>): string {
    const first = tried[0];
    if (!first || first.result.ok) {
        return first ? "" : "trimtab: no Python interpreter to run the language server.";
    }
    const r = first.result;
    const install = `To install it: ${installCommand(first.launch)}`;
    if (first.launch.source !== "default") {
        const where = `${first.launch.command} (set by ${first.launch.source})`;
        if (r.reason === "not-found") {
            return `trimtab: ${where} was not found. Check the path, or choose another interpreter.`;
        }
        if (r.reason === "not-installed") {
            return `trimtab is not installed in ${where}. ${install}`;
        }
        return `trimtab: ${where} cannot start the language server: ${r.detail}`;
    }
    return `trimtab is not installed: ${first.launch.command} cannot import it and there is no trimtab on the PATH. ${install}, or set trimtab.python to an interpreter that has it.`;
}
