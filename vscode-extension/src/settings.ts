// VS Code settings -> what the language server reads, and the small decisions around them.
// Pure: no `vscode` import, so node's test runner can exercise it.

export type SeverityName = "error" | "warning" | "information" | "hint" | "off";

const SEVERITIES: Record<string, SeverityName> = {
    error: "error", err: "error",
    warning: "warning", warn: "warning",
    information: "information", info: "information",
    hint: "hint",
    off: "off", none: "off", ignore: "off",
};

/** The `trimtab` section as VS Code returns it (nested: `diagnostics.severity`). */
export interface ExtensionSettings {
    python?: unknown;
    server?: { path?: unknown };
    databaseUrl?: unknown;
    databaseUrlEnv?: unknown;
    schema?: unknown;
    migrations?: unknown;
    refreshInterval?: unknown;
    measureTimeout?: unknown;
    exactDelay?: unknown;
    diagnostics?: { severity?: unknown };
    inlayHints?: { rowCounts?: unknown };
    [key: string]: unknown;
}

/** What the server reads from initializationOptions and `workspace/configuration`.
 * Every key is present: `null` clears a value the server may still hold from before. */
export interface ServerSettings {
    databaseUrl: string | null;
    databaseUrlEnv: string | null;
    schema: string | null;
    migrations: string | null;
    refreshInterval: number | null;
    measureTimeout: number | null;
    exactDelay: number | null;
    diagnostics: { severity: Record<string, SeverityName> };
    inlayHints: { rowCounts: boolean };
}

function text(v: unknown): string | null {
    return typeof v === "string" && v.trim() ? v.trim() : null;
}

function nonNegative(v: unknown): number | null {
    const n = typeof v === "string" && v.trim() ? Number(v) : v;
    return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : null;
}

/** `{"drops-column": "Error", "x": "bogus"}` -> `{"drops-column": "error"}`. */
export function normalizeSeverities(v: unknown): Record<string, SeverityName> {
    const out: Record<string, SeverityName> = {};
    if (v && typeof v === "object" && !Array.isArray(v)) {
        for (const [code, value] of Object.entries(v as Record<string, unknown>)) {
            const name = typeof value === "string" ? SEVERITIES[value.trim().toLowerCase()] : undefined;
            if (code.trim() && name) {
                out[code.trim()] = name;
            }
        }
    }
    return out;
}

/**
 * The server's settings for one project. `secretUrl` (from VS Code's secret storage) wins
 * over the `trimtab.databaseUrl` setting; neither is ever written back to settings.
 */
export function toServerSettings(s: ExtensionSettings | undefined, secretUrl?: string): ServerSettings {
    s = s ?? {};
    return {
        databaseUrl: text(secretUrl) ?? text(s.databaseUrl),
        databaseUrlEnv: text(s.databaseUrlEnv),
        schema: text(s.schema),
        migrations: text(s.migrations),
        refreshInterval: nonNegative(s.refreshInterval),
        measureTimeout: nonNegative(s.measureTimeout),
        exactDelay: nonNegative(s.exactDelay),
        diagnostics: { severity: normalizeSeverities(s.diagnostics?.severity) },
        inlayHints: { rowCounts: s.inlayHints?.rowCounts === true },
    };
}

/** The launch settings, read from the same section. */
export function interpreterSettings(s: ExtensionSettings | undefined): { serverPath?: string; python?: string } {
    return {
        serverPath: text(s?.server?.path) ?? undefined,
        python: text(s?.python) ?? undefined,
    };
}

/** What `WorkspaceConfiguration.inspect` returns for one setting (the parts read here). */
export interface SettingLayers<T> {
    globalValue?: T;
    workspaceValue?: T;
    workspaceFolderValue?: T;
}

/**
 * The value of a setting that names a program to run (`trimtab.python`,
 * `trimtab.server.path`). In a trusted workspace: the usual precedence (folder, workspace,
 * user). In an untrusted one the user's own value only: a cloned repository's
 * `.vscode/settings.json` could point it at a script of the repository.
 */
export function launchValue<T>(layers: SettingLayers<T> | undefined, trusted: boolean): T | undefined {
    if (!layers) {
        return undefined;
    }
    return trusted ? layers.workspaceFolderValue ?? layers.workspaceValue ?? layers.globalValue
        : layers.globalValue;
}

/** A change to these settings needs a new server process; the rest is sent to it. */
export const RESTART_KEYS = ["python", "server.path"] as const;

/** The severity the user wants for a diagnostic code: `undefined` keeps the server's. */
export function severityFor(code: unknown, overrides: Record<string, SeverityName>): SeverityName | undefined {
    const key = typeof code === "string" || typeof code === "number" ? String(code)
        : code && typeof code === "object" && "value" in code ? String((code as { value: unknown }).value)
            : undefined;
    return key === undefined ? undefined : overrides[key];
}

/** Whether a database URL carries a password (`postgresql://u:secret@h/db`, `password=`). */
export function urlHasPassword(url: string): boolean {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url.trim());
    if (m && m[1]!.includes(":") && m[1]!.split(":").slice(1).join(":") !== "") {
        return true;
    }
    return /(^|[\s?&])password=[^&\s]/i.test(url);
}

/** A URL fit to show: the password replaced by `***`. */
export function redactUrl(url: string): string {
    return url
        .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@?#]*):[^@/?#]*@/i, "$1:***@")
        .replace(/(^|[\s?&])(password=)[^&\s]*/gi, "$1$2***");
}

/** A plausible PostgreSQL connection string (URL or `key=value` form). */
export function validateDatabaseUrl(url: string): string | undefined {
    const u = url.trim();
    if (!u) {
        return "Enter a database URL, for example postgresql://user:password@localhost:5432/app";
    }
    if (/^postgres(ql)?:\/\//i.test(u) || /^\s*\w+=\S/.test(u)) {
        return undefined;
    }
    return "A PostgreSQL URL starts with postgresql:// (or postgres://)";
}

/** `[tool.trimtab]` (or a sub-table of it) in a pyproject.toml. */
export function hasToolTrimtab(pyproject: string): boolean {
    return /^\s*\[\s*tool\s*\.\s*(trimtab|"trimtab")\s*(\]|\.)/m.test(pyproject);
}

/** The secret storage key of a workspace folder's database URL. */
export function secretKey(folderUri: string): string {
    return `trimtab.databaseUrl:${folderUri}`;
}
