// `trimtab studio` for a project: how to start it and how to read the URL it prints.
// Pure: no `vscode` import, so node's test runner can exercise it.

import type { ServerLaunch } from "./interpreter";
import type { ServerSettings } from "./settings";

export interface StudioSpawn {
    command: string;
    args: string[];
    /** Added to the environment: the database URL travels there, never on the command line
     * (where every user of the machine could read it). */
    env: Record<string, string>;
}

/** The studio command for the interpreter or executable that runs the language server,
 * with the project's settings. */
export function studioSpawn(launch: ServerLaunch, s: ServerSettings,
                            env: Record<string, string | undefined>): StudioSpawn {
    const args = launch.kind === "python"
        ? ["-m", "trimtab", "studio", "--no-browser"]
        : ["studio", "--no-browser"];
    if (s.schema) {
        args.push("--schema", s.schema);
    }
    const url = s.databaseUrl ?? (s.databaseUrlEnv ? env[s.databaseUrlEnv] : undefined);
    // DIRECT_DATABASE_URL is what trimtab prefers: set both, so neither a stale one wins.
    const extra: Record<string, string> = url ? { DIRECT_DATABASE_URL: url, DATABASE_URL: url } : {};
    return { command: launch.command, args, env: extra };
}

const STUDIO_LINE = /^studio: (http:\/\/127\.0\.0\.1:\d+\/\?code=[A-Za-z0-9_\-]+)\s*$/;

/** What to write to the studio's standard input for a new link: each link opens the
 * studio once (it holds a one-time code, not the session token, since the browser's
 * command line is visible to every user of the machine). */
export const NEW_LINK_REQUEST = "\n";

/** A link from one line of the studio's standard output, if that line is one. */
export function studioUrl(line: string): string | undefined {
    return STUDIO_LINE.exec(line)?.[1];
}
