// Which documents the language server reads. Pure: no `vscode` import, so node's test
// runner can exercise it.

/** VS Code's own id for .sql files, and the PostgreSQL language this extension contributes
 * (package.json `contributes.languages`): a .sql file may be either, as the user picks. */
export const SQL_LANGUAGES = ["sql", "postgres"] as const;

export interface Filter {
    scheme: string;
    language?: string;
    pattern?: { baseUri: string; pattern: string };
}

/** The project's SQL files in either language (and any other language a user gave them),
 * and a Drizzle project's TypeScript. */
export function documentSelector(root: string, drizzle: boolean): Filter[] {
    const pattern = { baseUri: root, pattern: "**/*.sql" };
    const ts = { baseUri: root, pattern: "**/*.{ts,mts}" };
    return [
        ...SQL_LANGUAGES.map((language) => ({ scheme: "file", language, pattern })),
        { scheme: "file", pattern },
        ...(drizzle ? [{ scheme: "file", pattern: ts }] : []),
    ];
}
