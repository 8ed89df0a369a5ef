import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { codeLensSummary, commandError, parseStatus, statusView, type TrimtabStatus } from "../src/status";

const base: TrimtabStatus = {
    root: "/w", state: "in-sync", pending: 0, dataLoss: 0, notInMigration: 0, errors: 0,
    drift: false, message: null, seconds: 0.42, documents: [{ uri: "file:///w/schema.sql", version: 3 }],
};

describe("statusView", () => {
    it("shows each state", () => {
        assert.equal(statusView(base, "running").text, "$(check) trimtab: in sync");
        assert.equal(statusView({ ...base, state: "pending", pending: 1 }, "running").text, "$(diff) trimtab: 1 pending change");
        const loss = statusView({ ...base, state: "pending", pending: 3, dataLoss: 1 }, "running");
        assert.equal(loss.text, "$(diff) trimtab: 3 pending changes ($(warning) 1 loses data)");
        assert.equal(loss.tone, "warning");
        assert.match(statusView({ ...base, state: "pending", pending: 2, dataLoss: 2 }, "running").text, /2 lose data/);
        assert.equal(statusView({ ...base, state: "drift", drift: true, pending: 2 }, "running").text, "$(warning) trimtab: drift · 2 pending");
        const down = statusView({ ...base, state: "unreachable", message: "connection refused" }, "running");
        assert.equal(down.text, "$(debug-disconnect) trimtab: database unreachable");
        assert.match(down.tooltip, /connection refused/);
        assert.equal(statusView({ ...base, state: "error", errors: 2 }, "running").tone, "error");
    });
    it("shows the client's own phases", () => {
        assert.equal(statusView(undefined, "starting").text, "$(sync~spin) trimtab");
        assert.equal(statusView(base, "not-installed").text, "$(error) trimtab: not installed");
        assert.equal(statusView(base, "stopped").text, "$(circle-slash) trimtab: stopped");
    });
    it("names the project in a multi-root workspace and says what a click does", () => {
        const v = statusView({ ...base, notInMigration: 2 }, "running", "api");
        assert.match(v.tooltip, /^trimtab \(api\): /);
        assert.match(v.tooltip, /2 changes not yet in a migration; analysed in 0\.4 s/);
        assert.match(v.tooltip, /Click to show the pending SQL/);
    });
});

describe("codeLensSummary", () => {
    it("counts pending changes", () => {
        assert.equal(codeLensSummary({ ...base, state: "pending", pending: 2 }), "2 pending changes");
        assert.equal(codeLensSummary({ ...base, state: "pending", pending: 1, dataLoss: 1 }), "1 pending change · 1 losing data");
        assert.equal(codeLensSummary({ ...base, state: "drift", pending: 1 }), "1 pending change · drift");
        assert.equal(codeLensSummary({ ...base, state: "drift", pending: 0 }), "$(warning) drift: the database differs from its migrations");
        assert.equal(codeLensSummary(base), "$(check) in sync with the database");
        assert.equal(codeLensSummary({ ...base, notInMigration: 1 }), "$(check) in sync · 1 change not in a migration");
        assert.equal(codeLensSummary(undefined), "trimtab: analysing…");
        assert.equal(codeLensSummary({ ...base, state: "unreachable" }), "$(debug-disconnect) database unreachable");
    });
});

describe("parseStatus", () => {
    it("accepts the server's notification and rejects anything else", () => {
        assert.deepEqual(parseStatus({ ...base, extra: 1 }), base);
        assert.equal(parseStatus({ ...base, state: "weird" }), undefined);
        assert.equal(parseStatus(null), undefined);
        const sparse = parseStatus({ root: "/w", state: "pending", documents: [{ uri: "file:///a.sql" }, 7] });
        assert.deepEqual(sparse?.documents, [{ uri: "file:///a.sql", version: null }]);
        assert.equal(sparse?.pending, 0);
    });
});

describe("commandError", () => {
    it("reads the server's error shape", () => {
        assert.equal(commandError({ ok: true, applied: 1 }), undefined);
        assert.equal(commandError({ ok: false, error: { type: "ConsentRequired", message: "push cancelled" } }), "push cancelled");
        assert.equal(commandError({ ok: false }), "the command failed");
        assert.equal(commandError(undefined), undefined);
    });
});
