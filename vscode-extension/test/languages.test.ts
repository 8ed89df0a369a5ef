import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { documentSelector, SQL_LANGUAGES } from "../src/languages";

// npm test runs in the extension's folder.
const root = process.cwd();
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("the PostgreSQL language", () => {
    it("is contributed for .sql with a language configuration and a grammar the package ships", () => {
        const lang = manifest.contributes.languages.find((l: { id: string }) => l.id === "postgres");
        assert.ok(lang, "no postgres language");
        assert.equal(lang.aliases[0], "PostgreSQL"); // the name the status bar shows
        assert.ok(lang.extensions.includes(".sql"));
        const config = JSON.parse(readFileSync(join(root, lang.configuration), "utf8"));
        assert.deepEqual(config.comments, { lineComment: "--", blockComment: ["/*", "*/"] });
        const grammar = manifest.contributes.grammars.find((g: { language: string }) => g.language === "postgres");
        const tm = JSON.parse(readFileSync(join(root, grammar.path), "utf8"));
        assert.equal(tm.scopeName, grammar.scopeName);
        const shipped = readFileSync(join(root, ".vscodeignore"), "utf8");
        for (const file of [lang.configuration, grammar.path]) {
            assert.ok(existsSync(join(root, file)));
            assert.ok(shipped.includes(`!${file.replace(/^\.\//, "")}`), `${file} is left out of the package`);
        }
        assert.ok(manifest.activationEvents.includes("onLanguage:postgres"));
    });

    it("a .sql file is served in either language", () => {
        const sel = documentSelector("file:///w", false);
        for (const language of SQL_LANGUAGES) {
            assert.ok(sel.some((f) => f.language === language && f.pattern?.pattern === "**/*.sql"), language);
        }
        assert.ok(!sel.some((f) => f.pattern?.pattern.includes(".ts")));
        assert.ok(documentSelector("file:///w", true).some((f) => f.pattern?.pattern === "**/*.{ts,mts}"));
    });
});

describe("the explorer", () => {
    it("hides the .trimtab folder by default", () => {
        assert.equal(manifest.contributes.configurationDefaults["files.exclude"]["**/.trimtab"], true);
    });
});
