// The server's `trimtab/status` notification and how the status bar and CodeLens show it.
// Pure: no `vscode` import.

export type StatusState = "in-sync" | "pending" | "drift" | "error" | "unreachable" | "untrusted";

export interface TrimtabStatus {
    root: string;
    state: StatusState;
    pending: number;
    dataLoss: number;
    notInMigration: number;
    errors: number;
    drift: boolean;
    message: string | null;
    seconds: number | null;
    documents: Array<{ uri: string; version: number | null }>;
}

/** What the client knows of a project besides the server's last status. */
export type ClientPhase = "starting" | "running" | "not-installed" | "stopped";

export interface StatusView {
    text: string;
    tooltip: string;
    /** `warning` / `error` colour the status bar item's background. */
    tone: "normal" | "warning" | "error";
}

function plural(n: number, one: string, many = `${one}s`): string {
    return `${n} ${n === 1 ? one : many}`;
}

export function statusView(status: TrimtabStatus | undefined, phase: ClientPhase, name?: string): StatusView {
    const label = name ? `trimtab (${name})` : "trimtab";
    if (phase === "not-installed") {
        return { text: "$(error) trimtab: not installed", tooltip: `${label}: the language server cannot start. Click for details.`, tone: "error" };
    }
    if (phase === "stopped") {
        return { text: "$(circle-slash) trimtab: stopped", tooltip: `${label}: the language server is not running. Click to see its output.`, tone: "warning" };
    }
    if (!status) {
        return { text: "$(sync~spin) trimtab", tooltip: `${label}: reading the schema and the database…`, tone: "normal" };
    }
    const extra: string[] = [];
    if (status.notInMigration) {
        extra.push(`${plural(status.notInMigration, "change")} not yet in a migration`);
    }
    if (status.seconds !== null && status.seconds !== undefined) {
        extra.push(`analysed in ${status.seconds.toFixed(1)} s`);
    }
    const tail = (extra.length ? `\n${extra.join("; ")}` : "") + "\nClick to show the pending SQL.";
    switch (status.state) {
        case "untrusted":
            return {
                text: "$(shield) trimtab: restricted mode",
                tooltip: `${label}: this workspace is not trusted. trimtab checks the schema's structure only: it connects to no database and runs nothing from the folder.\nClick to manage workspace trust.`,
                tone: "normal",
            };
        case "unreachable":
            return {
                text: "$(debug-disconnect) trimtab: database unreachable",
                tooltip: `${label}: the database cannot be reached${status.message ? `: ${status.message}` : ""}.\nChanges are shown against the last migration snapshot.${tail}`,
                tone: "warning",
            };
        case "error":
            return {
                text: `$(error) trimtab: ${plural(status.errors, "error")}`,
                tooltip: `${label}: ${plural(status.errors, "change")} PostgreSQL would reject, see Problems.${tail}`,
                tone: "error",
            };
        case "drift":
            return {
                text: `$(warning) trimtab: drift${status.pending ? ` · ${status.pending} pending` : ""}`,
                tooltip: `${label}: the database differs from what its applied migrations produce.${tail}`,
                tone: "warning",
            };
        case "pending": {
            const loss = status.dataLoss ? ` ($(warning) ${status.dataLoss} ${status.dataLoss === 1 ? "loses" : "lose"} data)` : "";
            return {
                text: `$(diff) trimtab: ${plural(status.pending, "pending change")}${loss}`,
                tooltip: `${label}: ${plural(status.pending, "change")} between the schema and the database${status.dataLoss ? `, ${status.dataLoss} of them losing data` : ""}.${tail}`,
                tone: status.dataLoss ? "warning" : "normal",
            };
        }
        default:
            return {
                text: "$(check) trimtab: in sync",
                tooltip: `${label}: the database matches the schema.${tail}`,
                tone: "normal",
            };
    }
}

/** The first CodeLens over a schema file (the others are "Push" and "Generate migration"). */
export function codeLensSummary(status: TrimtabStatus | undefined): string {
    if (!status) {
        return "trimtab: analysing…";
    }
    switch (status.state) {
        case "untrusted":
            return "$(shield) restricted mode: structure only (trust the workspace to compare with the database)";
        case "unreachable":
            return "$(debug-disconnect) database unreachable";
        case "error":
            return `$(error) ${plural(status.errors, "error")}`;
        case "in-sync":
            return status.notInMigration
                ? `$(check) in sync · ${plural(status.notInMigration, "change")} not in a migration`
                : "$(check) in sync with the database";
        default: {
            if (!status.pending) {
                return "$(warning) drift: the database differs from its migrations";
            }
            const parts = [plural(status.pending, "pending change")];
            if (status.dataLoss) {
                parts.push(`${status.dataLoss} losing data`);
            }
            if (status.state === "drift") {
                parts.push("drift");
            }
            return parts.join(" · ");
        }
    }
}

/** Checks a notification's shape; returns undefined for anything unexpected. */
export function parseStatus(v: unknown): TrimtabStatus | undefined {
    if (!v || typeof v !== "object") {
        return undefined;
    }
    const o = v as Record<string, unknown>;
    const states = ["in-sync", "pending", "drift", "error", "unreachable", "untrusted"];
    if (typeof o.root !== "string" || typeof o.state !== "string" || !states.includes(o.state)) {
        return undefined;
    }
    const n = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : 0);
    return {
        root: o.root,
        state: o.state as StatusState,
        pending: n(o.pending),
        dataLoss: n(o.dataLoss),
        notInMigration: n(o.notInMigration),
        errors: n(o.errors),
        drift: o.drift === true,
        message: typeof o.message === "string" ? o.message : null,
        seconds: typeof o.seconds === "number" ? o.seconds : null,
        documents: Array.isArray(o.documents)
            ? o.documents.filter((d): d is { uri: string; version: number | null } =>
                !!d && typeof d === "object" && typeof (d as { uri?: unknown }).uri === "string")
                .map((d) => ({ uri: d.uri, version: typeof d.version === "number" ? d.version : null }))
            : [],
    };
}

/** A command's result: `{ok: true, ...}` or `{ok: false, error: {...}}`. */
export function commandError(result: unknown): string | undefined {
    if (!result || typeof result !== "object") {
        return undefined;
    }
    const r = result as { ok?: unknown; error?: unknown };
    if (r.ok !== false) {
        return undefined;
    }
    const e = r.error;
    if (typeof e === "string") {
        return e;
    }
    if (e && typeof e === "object") {
        const m = (e as { message?: unknown }).message;
        if (typeof m === "string") {
            return m;
        }
    }
    return "the command failed";
}
