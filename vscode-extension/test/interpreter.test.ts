import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    type DiscoveryContext,
    describeFailure,
    expandPath,
    installCommand,
    interpretProbe,
    looksLikePython,
    probeCommand,
    serverCandidates,
} from "../src/interpreter";

const ctx: DiscoveryContext = {
    folder: "/work/app",
    home: "/home/ada",
    env: { VENV: "/opt/venv" },
    platform: "linux",
};

describe("expandPath", () => {
    it("expands ~, ${userHome}, ${workspaceFolder} and ${env:NAME}", () => {
        assert.equal(expandPath("~/.venvs/x/bin/python", ctx), "/home/ada/.venvs/x/bin/python");
        assert.equal(expandPath("${userHome}/py", ctx), "/home/ada/py");
        assert.equal(expandPath("${workspaceFolder}/.venv/bin/python", ctx), "/work/app/.venv/bin/python");
        assert.equal(expandPath("${env:VENV}/bin/python", ctx), "/opt/venv/bin/python");
        assert.equal(expandPath("${env:MISSING}python3", ctx), "python3");
    });
    it("resolves relative paths against the workspace folder, leaves bare names to the PATH", () => {
        assert.equal(expandPath(".venv/bin/python", ctx), "/work/app/.venv/bin/python");
        assert.equal(expandPath("./venv/bin/python", ctx), "/work/app/venv/bin/python");
        assert.equal(expandPath("python3.12", ctx), "python3.12");
        assert.equal(expandPath("  /usr/bin/python3  ", ctx), "/usr/bin/python3");
    });
    it("knows Windows paths", () => {
        const win = { ...ctx, folder: "C:\\work\\app", platform: "win32" as const };
        assert.equal(expandPath(".venv\\Scripts\\python.exe", win), "C:\\work\\app\\.venv\\Scripts\\python.exe");
        assert.equal(expandPath("D:\\py\\python.exe", win), "D:\\py\\python.exe");
    });
});

describe("serverCandidates", () => {
    it("uses trimtab.server.path alone, as the trimtab executable", () => {
        assert.deepEqual(serverCandidates({ serverPath: "~/.local/bin/trimtab", python: "/usr/bin/python3" }, ctx), [
            { kind: "executable", command: "/home/ada/.local/bin/trimtab", args: ["lsp"], source: "trimtab.server.path" },
        ]);
    });
    it("treats a trimtab.server.path that names an interpreter as one", () => {
        const [c] = serverCandidates({ serverPath: "/opt/venv/bin/python3.12" }, ctx);
        assert.equal(c?.kind, "python");
        assert.deepEqual(c?.args, ["-m", "trimtab.cli", "lsp"]);
    });
    it("uses trimtab.python alone, ignoring the Python extension", () => {
        assert.deepEqual(serverCandidates({ python: "${workspaceFolder}/.venv/bin/python" }, { ...ctx, pythonExtension: "/other/python" }), [
            { kind: "python", command: "/work/app/.venv/bin/python", args: ["-m", "trimtab.cli", "lsp"], source: "trimtab.python" },
        ]);
    });
    it("falls back to the Python extension, then python3, then trimtab on the PATH", () => {
        assert.deepEqual(serverCandidates({}, { ...ctx, pythonExtension: "/envs/a/bin/python" }).map((c) => [c.source, c.command]), [
            ["Python extension", "/envs/a/bin/python"], ["default", "python3"], ["PATH", "trimtab"],
        ]);
        assert.deepEqual(serverCandidates({ python: "  ", serverPath: "" }, ctx).map((c) => c.command), ["python3", "trimtab"]);
    });
    it("uses python and trimtab.exe on Windows", () => {
        assert.deepEqual(serverCandidates({}, { ...ctx, platform: "win32" }).map((c) => c.command), ["python", "trimtab.exe"]);
    });
});

describe("looksLikePython", () => {
    it("recognises interpreter names", () => {
        for (const p of ["python", "python3", "/x/bin/python3.12", "C:\\Py\\python.exe", "pythonw.exe"]) {
            assert.ok(looksLikePython(p), p);
        }
        for (const p of ["trimtab", "/x/bin/trimtab", "python-config", "ipython"]) {
            assert.ok(!looksLikePython(p), p);
        }
    });
});

describe("probing", () => {
    const py = serverCandidates({ python: "/v/bin/python" }, ctx)[0]!;
    const exe = serverCandidates({ serverPath: "/v/bin/trimtab" }, ctx)[0]!;
    it("imports the server module with the interpreter, asks the executable its version", () => {
        assert.deepEqual(probeCommand(py), {
            command: "/v/bin/python",
            args: ["-c", "import trimtab, trimtab.lsp.server; print(trimtab.__version__)"],
        });
        assert.deepEqual(probeCommand(exe), { command: "/v/bin/trimtab", args: ["--version"] });
    });
    it("reads success, a missing program, a missing module and other failures", () => {
        assert.deepEqual(interpretProbe(py, { code: 0, stdout: "0.1.0\n", stderr: "" }), { ok: true, version: "0.1.0" });
        assert.deepEqual(interpretProbe(exe, { code: 0, stdout: "trimtab 0.2.0\n", stderr: "" }), { ok: true, version: "0.2.0" });
        assert.equal((interpretProbe(py, { code: null, stdout: "", stderr: "", error: "ENOENT" }) as { reason: string }).reason, "not-found");
        const missing = interpretProbe(py, {
            code: 1, stdout: "",
            stderr: "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'trimtab'\n",
        });
        assert.deepEqual(missing, { ok: false, reason: "not-installed", detail: "ModuleNotFoundError: No module named 'trimtab'" });
        assert.deepEqual(interpretProbe(py, { code: 1, stdout: "", stderr: "ImportError: pygls too old\n" }),
            { ok: false, reason: "failed", detail: "ImportError: pygls too old" });
        assert.equal((interpretProbe(py, { code: null, stdout: "", stderr: "", error: "timeout" }) as { reason: string }).reason, "failed");
    });
});

describe("the not-installed message", () => {
    const py = serverCandidates({ python: "/v/bin/python" }, ctx)[0]!;
    it("names the configured interpreter and the install command", () => {
        const text = describeFailure([{ launch: py, result: { ok: false, reason: "not-installed", detail: "No module named 'trimtab'" } }]);
        assert.equal(text, "trimtab is not installed in /v/bin/python (set by trimtab.python). To install it: /v/bin/python -m pip install trimtab");
        assert.match(describeFailure([{ launch: py, result: { ok: false, reason: "not-found", detail: "" } }]), /was not found/);
    });
    it("explains the defaults when nothing was configured", () => {
        const tried = serverCandidates({}, ctx).map((launch) => ({ launch, result: { ok: false as const, reason: "not-installed" as const, detail: "" } }));
        assert.match(describeFailure(tried), /python3 cannot import it and there is no trimtab on the PATH\. To install it: python3 -m pip install trimtab, or set trimtab\.python/);
    });
    it("quotes interpreter paths with spaces", () => {
        assert.equal(installCommand({ ...py, command: "C:\\Program Files\\Python\\python.exe" }),
            "\"C:\\Program Files\\Python\\python.exe\" -m pip install trimtab");
        assert.equal(installCommand(undefined), "pip install trimtab");
    });
});
