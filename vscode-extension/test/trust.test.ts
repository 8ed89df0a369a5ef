// Workspace trust: in an untrusted folder nothing the folder provides runs, and the server
// gets the structural fast path only.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
    type DiscoveryContext,
    insideFolder,
    sameLaunch,
    serverCandidates,
    serverCwd,
    skippedUntrusted,
} from "../src/interpreter";
import { launchValue } from "../src/settings";
import { codeLensSummary, parseStatus, statusView, type TrimtabStatus } from "../src/status";

const ctx: DiscoveryContext = { folder: "/work/app", home: "/home/ada", env: {}, platform: "linux" };
const untrusted: DiscoveryContext = { ...ctx, trusted: false, pythonExtension: "/work/app/.venv/bin/python" };

describe("launchValue", () => {
    const layers = { globalValue: "/usr/bin/python3", workspaceValue: "./evil.sh", workspaceFolderValue: "./evil2.sh" };
    it("takes the folder's value first in a trusted workspace", () => {
        assert.equal(launchValue(layers, true), "./evil2.sh");
        assert.equal(launchValue({ globalValue: "/a", workspaceValue: "/b" }, true), "/b");
        assert.equal(launchValue({ globalValue: "/a" }, true), "/a");
    });
    it("takes the user's own value only in an untrusted workspace", () => {
        assert.equal(launchValue(layers, false), "/usr/bin/python3");
        assert.equal(launchValue({ workspaceValue: "./evil.sh" }, false), undefined);
        assert.equal(launchValue(undefined, false), undefined);
    });
});

describe("serverCandidates in an untrusted folder", () => {
    it("does not run an interpreter inside the folder, even from a user setting", () => {
        const s = { python: "${workspaceFolder}/.venv/bin/python" };
        assert.deepEqual(serverCandidates(s, untrusted).map((c) => [c.source, c.command]), [
            ["default", "python3"], ["PATH", "trimtab"],
        ]);
        assert.match(skippedUntrusted(s, untrusted) ?? "", /\/work\/app\/\.venv\/bin\/python \(set by trimtab\.python\) is inside the workspace/);
        assert.deepEqual(serverCandidates({ serverPath: "bin/trimtab" }, untrusted).map((c) => c.command), ["python3", "trimtab"]);
    });
    it("keeps a user's interpreter outside the folder, and bare names for the PATH", () => {
        assert.deepEqual(serverCandidates({ python: "~/.venvs/tools/bin/python" }, untrusted).map((c) => c.command),
            ["/home/ada/.venvs/tools/bin/python"]);
        assert.deepEqual(serverCandidates({ serverPath: "trimtab" }, untrusted).map((c) => c.command), ["trimtab"]);
        assert.equal(skippedUntrusted({ python: "/usr/bin/python3" }, untrusted), undefined);
        assert.equal(skippedUntrusted({ python: "${workspaceFolder}/x/python" }, ctx), undefined); // trusted
    });
    it("does not ask the Python extension (it may have picked the folder's .venv)", () => {
        assert.deepEqual(serverCandidates({}, untrusted).map((c) => c.source), ["default", "PATH"]);
        assert.deepEqual(serverCandidates({}, { ...untrusted, trusted: true }).map((c) => c.source),
            ["Python extension", "default", "PATH"]);
    });
    it("tells inside from outside", () => {
        assert.equal(insideFolder("/work/app/.venv/bin/python", ctx), true);
        assert.equal(insideFolder("/work/app", ctx), true);
        assert.equal(insideFolder("/work/application/bin/python", ctx), false);
        assert.equal(insideFolder("/work/app/../other/python", ctx), false);
        assert.equal(insideFolder("python3", ctx), false);
        const win = { ...ctx, folder: "C:\\work\\app", platform: "win32" as const };
        assert.equal(insideFolder("C:\\work\\app\\.venv\\Scripts\\python.exe", win), true);
        assert.equal(insideFolder("C:\\Python312\\python.exe", win), false);
    });
});

describe("the server process", () => {
    it("starts outside an untrusted folder (python -m puts its working directory on sys.path)", () => {
        assert.equal(serverCwd("/work/app", true, "/ext"), "/work/app");
        assert.equal(serverCwd("/work/app", false, "/ext"), "/ext");
    });
    it("is kept when trust changes nothing in how it starts", () => {
        const [a] = serverCandidates({}, untrusted);
        const [b] = serverCandidates({}, { ...ctx, trusted: true });
        assert.equal(sameLaunch(a, b), true);
        const [c] = serverCandidates({}, { ...untrusted, trusted: true });
        assert.equal(sameLaunch(a, c), false); // the Python extension's interpreter now
        assert.equal(sameLaunch(undefined, a), false);
    });
});

describe("the untrusted status", () => {
    const status: TrimtabStatus = {
        root: "/w", state: "untrusted", pending: 0, dataLoss: 0, notInMigration: 0, errors: 0,
        drift: false, message: "the workspace is not trusted", seconds: null, documents: [],
    };
    it("is read and shown", () => {
        assert.deepEqual(parseStatus(status), status);
        assert.equal(statusView(status, "running").text, "$(shield) trimtab: restricted mode");
        assert.match(statusView(status, "running").tooltip, /connects to no database/);
        assert.match(codeLensSummary(status), /restricted mode/);
    });
});

describe("package.json", () => {
    const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
    it("supports untrusted workspaces in a limited way, without their interpreter settings", () => {
        const u = manifest.capabilities.untrustedWorkspaces;
        assert.equal(u.supported, "limited");
        assert.match(u.description, /trust/);
        assert.deepEqual([...u.restrictedConfigurations].sort(), ["trimtab.python", "trimtab.server.path"]);
    });
    it("disables the commands that write or connect until the workspace is trusted", () => {
        const commands = new Map<string, { enablement?: string }>(
            manifest.contributes.commands.map((c: { command: string }) => [c.command, c]));
        for (const id of ["trimtab.pushSchema", "trimtab.generateMigration", "trimtab.applyMigrations", "trimtab.openStudio"]) {
            assert.equal(commands.get(id)?.enablement, "isWorkspaceTrusted", id);
        }
        for (const item of manifest.contributes.menus["editor/title"] as Array<{ command: string; when: string }>) {
            if (["trimtab.pushSchema", "trimtab.generateMigration", "trimtab.applyMigrations"].includes(item.command)) {
                assert.match(item.when, /isWorkspaceTrusted/, item.command);
            }
        }
    });
});
