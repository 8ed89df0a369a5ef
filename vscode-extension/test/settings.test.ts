import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    hasToolTrimtab,
    interpreterSettings,
    normalizeSeverities,
    redactUrl,
    secretKey,
    severityFor,
    toServerSettings,
    urlHasPassword,
    validateDatabaseUrl,
} from "../src/settings";

describe("toServerSettings", () => {
    it("sends every key, null when unset (so a cleared value is cleared on the server)", () => {
        assert.deepEqual(toServerSettings({
            python: "/v/bin/python", databaseUrl: "", databaseUrlEnv: "", schema: "", migrations: "",
            refreshInterval: 30, measureTimeout: 1, diagnostics: { severity: {} },
        }), {
            databaseUrl: null, databaseUrlEnv: null, schema: null, migrations: null,
            refreshInterval: 30, measureTimeout: 1, exactDelay: null, diagnostics: { severity: {} },
            inlayHints: { rowCounts: false },
        });
        assert.deepEqual(toServerSettings(undefined).diagnostics, { severity: {} });
    });
    it("passes the configured values, trimmed", () => {
        const s = toServerSettings({
            databaseUrl: " postgresql://localhost/dev ", databaseUrlEnv: "DEV_DB", schema: "db/schema.sql",
            migrations: "db/migrations", refreshInterval: 0, measureTimeout: "2.5", exactDelay: 0.3,
            diagnostics: { severity: { "drops-column": "Error", "not-in-a-migration": "off" } },
            inlayHints: { rowCounts: true },
        });
        assert.deepEqual(s, {
            databaseUrl: "postgresql://localhost/dev", databaseUrlEnv: "DEV_DB", schema: "db/schema.sql",
            migrations: "db/migrations", refreshInterval: 0, measureTimeout: 2.5, exactDelay: 0.3,
            diagnostics: { severity: { "drops-column": "error", "not-in-a-migration": "off" } },
            inlayHints: { rowCounts: true },
        });
    });
    it("prefers the secret over the setting, and never returns the python path", () => {
        const s = toServerSettings({ databaseUrl: "postgresql://localhost/dev", python: "/x" }, "postgresql://u:pw@db/prod");
        assert.equal(s.databaseUrl, "postgresql://u:pw@db/prod");
        assert.ok(!("python" in s));
        assert.equal(toServerSettings({ databaseUrl: "postgresql://a/b" }, "  ").databaseUrl, "postgresql://a/b");
    });
    it("drops invalid numbers", () => {
        assert.equal(toServerSettings({ refreshInterval: -1 }).refreshInterval, null);
        assert.equal(toServerSettings({ refreshInterval: "soon" }).refreshInterval, null);
        assert.equal(toServerSettings({ measureTimeout: Number.NaN }).measureTimeout, null);
        assert.equal(toServerSettings({ exactDelay: -0.1 }).exactDelay, null);
    });
});

describe("severities", () => {
    it("normalises names and drops unknown ones", () => {
        assert.deepEqual(normalizeSeverities({ a: "WARN", b: "info", c: "none", d: "loud", e: 3, "": "error" }),
            { a: "warning", b: "information", c: "off" });
        assert.deepEqual(normalizeSeverities(["error"]), {});
        assert.deepEqual(normalizeSeverities(null), {});
    });
    it("finds the override for a diagnostic code in any of its shapes", () => {
        const o = { "drops-column": "error" as const };
        assert.equal(severityFor("drops-column", o), "error");
        assert.equal(severityFor({ value: "drops-column", target: "https://x" }, o), "error");
        assert.equal(severityFor("adds-unique", o), undefined);
        assert.equal(severityFor(undefined, o), undefined);
    });
});

describe("interpreterSettings", () => {
    it("reads trimtab.server.path and trimtab.python", () => {
        assert.deepEqual(interpreterSettings({ python: " /v/bin/python ", server: { path: "" } }), { serverPath: undefined, python: "/v/bin/python" });
        assert.deepEqual(interpreterSettings({ server: { path: "/x/trimtab" } }), { serverPath: "/x/trimtab", python: undefined });
        assert.deepEqual(interpreterSettings(undefined), { serverPath: undefined, python: undefined });
    });
});

describe("database URLs", () => {
    it("spots passwords", () => {
        assert.ok(urlHasPassword("postgresql://app:s3cret@db:5432/app"));
        assert.ok(urlHasPassword("host=db user=app password=s3cret"));
        assert.ok(urlHasPassword("postgresql://db/app?password=s3cret"));
        assert.ok(!urlHasPassword("postgresql://app@db/app"));
        assert.ok(!urlHasPassword("postgresql://app:@db/app"));
        assert.ok(!urlHasPassword("postgresql://localhost/app"));
    });
    it("redacts them", () => {
        assert.equal(redactUrl("postgresql://app:s3cret@db:5432/app"), "postgresql://app:***@db:5432/app");
        assert.equal(redactUrl("postgresql://db/app?sslmode=require&password=x"), "postgresql://db/app?sslmode=require&password=***");
        assert.equal(redactUrl("postgresql://localhost/app"), "postgresql://localhost/app");
    });
    it("validates what the user types", () => {
        assert.equal(validateDatabaseUrl("postgresql://u:p@h/db"), undefined);
        assert.equal(validateDatabaseUrl("postgres://h/db"), undefined);
        assert.equal(validateDatabaseUrl("host=h dbname=db"), undefined);
        assert.match(validateDatabaseUrl("mysql://h/db") ?? "", /postgresql:\/\//);
        assert.match(validateDatabaseUrl("  ") ?? "", /Enter a database URL/);
    });
    it("keys secrets by workspace folder", () => {
        assert.equal(secretKey("file:///work/app"), "trimtab.databaseUrl:file:///work/app");
    });
});

describe("hasToolTrimtab", () => {
    it("finds the [tool.trimtab] table", () => {
        assert.ok(hasToolTrimtab("[project]\nname='x'\n\n[tool.trimtab]\nschema = 'db.sql'\n"));
        assert.ok(hasToolTrimtab("[tool.trimtab.env]\n"));
        assert.ok(hasToolTrimtab("  [ tool . \"trimtab\" ]\n"));
        assert.ok(!hasToolTrimtab("[tool.trimtabx]\n"));
        assert.ok(!hasToolTrimtab("[tool.ruff]\n# [tool.trimtab] is not here\n"));
    });
});
