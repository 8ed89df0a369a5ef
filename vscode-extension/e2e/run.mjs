#!/usr/bin/env node
// End-to-end test in a real VS Code: code-server (from npm) in headless Chromium, driven by
// playwright-core. One command: `npm run test:e2e` (add `-- --update-docs` to refresh the
// screenshots in docs/images/).
//
// It builds and packages the extension, installs the .vsix into a fresh code-server, opens a
// copy of the quickstart project whose database was pushed once, and checks, as a user would:
// the "not installed" message for an interpreter without trimtab; then with trimtab's
// interpreter the drops-column warning (squiggle, Problems, hover with the SQL), the status
// bar, the CodeLens and the live pending-SQL document; Generate Migration from the source
// action; Push answered Cancel (database unchanged) and then Apply (database changed). Then,
// writing SQL as a user types it: hover on a referenced table, Find All References, Go to
// Symbol in Workspace, semantic tokens (VS Code's token inspector), row-count inlay hints,
// F2 rename (with its hint), completion after REFERENCES and in a column's type, signature
// help, a PL/pgSQL error at its body line, Format Document, Fold All, the diagnostics of a
// migration file and a query file; and completion in a Drizzle project's schema.ts.
//
// The one-time set-up (Debian chromium and libkrb5-dev, Node 24, code-server, a Python venv
// with trimtab) is cached outside the repository, in ${XDG_CACHE_HOME:-~/.cache}/trimtab-e2e
// (TRIMTAB_E2E_CACHE overrides it). TRIMTAB_PYTHON names an interpreter that already has
// trimtab (with the `embedded` extra) to skip the venv.

import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const extDir = path.dirname(here);
const repo = path.dirname(extDir);
const shotsDir = path.join(here, "screenshots");
const outputDir = path.join(here, "output");
const updateDocs = process.argv.includes("--update-docs") || process.env.TRIMTAB_E2E_UPDATE_DOCS === "1";
const keep = process.argv.includes("--keep") || process.env.TRIMTAB_E2E_KEEP === "1";
/** The screenshots that docs/vscode.md shows (copied with --update-docs). */
const DOC_SHOTS = ["not-installed", "in-sync", "drops-column-warning", "hover-pending-sql", "pending-sql",
    "source-actions", "generated-migration", "push-consent", "push-consent-sql", "pushed", "unreachable", "multi-root",
    "language-mode", "hover-table", "references", "workspace-symbols", "rename", "completion-references",
    "completion-type", "signature-help", "plpgsql-error", "format-document", "folding", "migration-diagnostics",
    "query-diagnostics", "semantic-tokens", "inlay-row-counts", "completion-schema-ts"];
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const timings = [];
const cleanups = [];

function log(msg) {
    console.log(`[e2e ${secs().padStart(6)}s] ${msg}`);
}

async function step(name, fn) {
    const start = Date.now();
    log(`${name} ...`);
    const result = await fn();
    const took = (Date.now() - start) / 1000;
    timings.push([name, took]);
    log(`${name}: ok (${took.toFixed(1)} s)`);
    return result;
}

function run(cmd, args, opts = {}) {
    const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.error}):\n${r.stdout ?? ""}${r.stderr ?? ""}`);
    }
    return r.stdout;
}

function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

async function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 500) {
    const until = Date.now() + timeoutMs;
    let last;
    while (Date.now() < until) {
        try {
            const v = await fn();
            if (v) {
                return v;
            }
        } catch (err) {
            last = err;
        }
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

// -- set-up ---------------------------------------------------------------------------------

function setUpCache() {
    const out = run("bash", [path.join(here, "setup.sh")], { stdio: ["ignore", "pipe", "inherit"] });
    return out.trim().split("\n").pop();
}

function ensurePlaywright() {
    const require = createRequire(import.meta.url);
    try {
        return require.resolve("playwright-core");
    } catch {
        log("installing playwright-core (npm)");
        run("npm", ["install", "--no-save", "--no-audit", "--no-fund", "playwright-core@1"], { cwd: extDir });
        return require.resolve("playwright-core");
    }
}

function pythonHasTrimtab(python) {
    const r = spawnSync(python, ["-c", "import trimtab, trimtab.lsp.server, embedded_postgres, psycopg; print(trimtab.__file__)"],
        { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
}

/** An interpreter with this checkout of trimtab (editable) and the embedded server. */
function ensurePython(cache) {
    if (process.env.TRIMTAB_PYTHON) {
        if (!pythonHasTrimtab(process.env.TRIMTAB_PYTHON)) {
            throw new Error(`TRIMTAB_PYTHON=${process.env.TRIMTAB_PYTHON} cannot import trimtab with its embedded extra`);
        }
        return process.env.TRIMTAB_PYTHON;
    }
    const venv = path.join(cache, "venv");
    const python = path.join(venv, "bin", "python");
    const where = fs.existsSync(python) ? pythonHasTrimtab(python) : undefined;
    if (where && where.startsWith(path.join(repo, "server") + path.sep)) {
        return python;
    }
    log(`creating ${venv} with trimtab from ${repo} (editable, [embedded])`);
    if (spawnSync("python3", ["-c", "import ensurepip, venv"]).status !== 0) {
        run("bash", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null"]);
    }
    if (!fs.existsSync(python)) {
        run("python3", ["-m", "venv", venv]);
    }
    run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", `${repo}[embedded]`]);
    return python;
}

/** A Python without trimtab, for the "not installed" message. */
function pythonWithoutTrimtab() {
    for (const p of ["/usr/bin/python3", "/usr/local/bin/python3"]) {
        if (fs.existsSync(p) && spawnSync(p, ["-c", "import trimtab"]).status !== 0) {
            return p;
        }
    }
    return "/nonexistent/bin/python3";
}

function buildVsix() {
    if (!fs.existsSync(path.join(extDir, "node_modules", ".bin", "vsce"))) {
        log("installing the extension's npm packages (npm ci)");
        run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: extDir });
    }
    run("npm", ["run", "build"], { cwd: extDir });
    run("npm", ["run", "package"], { cwd: extDir });
    return path.join(extDir, "trimtab.vsix");
}

// -- the database ----------------------------------------------------------------------------

const DB_SCRIPT = `
import json, subprocess, sys, psycopg
url = subprocess.check_output([sys.argv[1], "db", "url"], text=True).strip()
with psycopg.connect(url, autocommit=True) as c:
    if sys.argv[2] == "writing":
        # A table only the database has (completion offers it), and statistics for the row counts.
        c.execute("CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz NOT NULL)")
        c.execute("ANALYZE customers")
    if sys.argv[2] == "seed":
        c.execute("INSERT INTO customers (email, name) VALUES ('ada@example.com', 'Ada'), ('alan@example.com', 'Alan'), ('grace@example.com', 'Grace')")
    cols = [r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' ORDER BY ordinal_position")]
    rows = c.execute("SELECT count(*) FROM customers").fetchone()[0]
    print(json.dumps({"columns": cols, "rows": rows}))
`;

function db(python, project, action = "read") {
    const trimtab = path.join(path.dirname(python), "trimtab");
    return JSON.parse(run(python, ["-c", DB_SCRIPT, trimtab, action], { cwd: project }).trim());
}

// -- VS Code in the browser ------------------------------------------------------------------

function userSettings(python) {
    return {
        "trimtab.python": python,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "workbench.enableExperiments": false,
        "workbench.welcomePage.walkthroughs.openOnInstall": false,
        "security.workspace.trust.enabled": false,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
        "git.enabled": false,
        "chat.disableAIFeatures": true,
        "editor.minimap.enabled": false,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "editor.hover.delay": 200,
        "files.autoSave": "off",
        "window.zoomLevel": 0,
        // Typed text lands as typed (the Writing SQL steps type whole statements).
        "editor.autoClosingBrackets": "never",
        "editor.autoClosingQuotes": "never",
        "editor.autoIndent": "none",
    };
}

async function main() {
    const cache = await step("one-time set-up (cached)", () => setUpCache());
    const node24 = path.join(cache, "node24", "bin");
    const codeServer = path.join(cache, "code-server", "node_modules", ".bin", "code-server");
    const python = await step("python with trimtab", () => ensurePython(cache));
    ensurePlaywright();
    const { chromium } = await import("playwright-core");
    const vsix = await step("build and package the extension", () => buildVsix());

    fs.rmSync(shotsDir, { recursive: true, force: true });
    fs.mkdirSync(shotsDir, { recursive: true });
    fs.rmSync(outputDir, { recursive: true, force: true });
    fs.mkdirSync(outputDir, { recursive: true });

    // Under /tmp: the embedded server opens the permissions of its data folder's parents.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "trimtab-e2e-"));
    const project = path.join(tmp, "quickstart");
    const home = path.join(tmp, "home");
    const userDir = path.join(tmp, "user");
    fs.mkdirSync(home, { recursive: true });
    const trimtab = path.join(path.dirname(python), "trimtab");
    cleanups.push(() => spawnSync(trimtab, ["db", "stop"], { cwd: project, stdio: "ignore" }));
    cleanups.push(() => {
        if (keep || process.exitCode) {
            log(`kept ${tmp}`);
        } else {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    await step("quickstart copy with a first migration applied, three customers", () => {
        fs.cpSync(path.join(repo, "fixtures", "quickstart"), project, { recursive: true });
        run(trimtab, ["generate", "--name", "init"], { cwd: project });
        run(trimtab, ["migrate"], { cwd: project });
        const state = db(python, project, "seed");
        if (!state.columns.includes("name") || state.rows !== 3) {
            throw new Error(`unexpected database: ${JSON.stringify(state)}`);
        }
    });

    const port = await freePort();
    const env = {
        ...process.env,
        PATH: `${node24}:${process.env.PATH}`,
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, ".config"),
        XDG_DATA_HOME: path.join(home, ".local", "share"),
        XDG_CACHE_HOME: path.join(home, ".cache"),
    };
    delete env.DATABASE_URL;
    delete env.DIRECT_DATABASE_URL;
    const config = path.join(tmp, "config.yaml");
    fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    const csArgs = ["--config", config, "--user-data-dir", userDir, "--extensions-dir", path.join(tmp, "ext")];
    const settingsFile = path.join(userDir, "User", "settings.json");

    await step("install the .vsix into code-server", () => {
        const out = run(codeServer, [...csArgs, "--install-extension", vsix, "--force"], { env });
        if (!/successfully installed/i.test(out)) {
            throw new Error(out);
        }
        fs.mkdirSync(path.dirname(settingsFile), { recursive: true });
        fs.writeFileSync(settingsFile, JSON.stringify(userSettings(pythonWithoutTrimtab()), null, 2));
    });

    const csLog = fs.openSync(path.join(outputDir, "code-server.log"), "w");
    const server = spawn(codeServer, [...csArgs, "--disable-telemetry", "--disable-update-check",
        "--disable-workspace-trust", "--disable-getting-started-override", project],
    { env, detached: true, stdio: ["ignore", csLog, csLog] });
    cleanups.unshift(() => {
        try {
            process.kill(-server.pid, "SIGTERM");
        } catch {
            // gone
        }
    });
    await step("code-server listening", () => waitFor("code-server", async () => {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        return r?.ok;
    }, 60_000));

    const browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        env,
    });
    cleanups.unshift(() => browser.close().catch(() => undefined));
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(30_000);
    const consoleLines = [];
    page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    cleanups.unshift(() => fs.writeFileSync(path.join(outputDir, "browser-console.log"), consoleLines.join("\n")));

    let shotNo = 0;
    const shots = [];
    const shot = async (name) => {
        const file = path.join(shotsDir, `${String(++shotNo).padStart(2, "0")}-${name}.png`);
        await page.screenshot({ path: file });
        shots.push(file);
        log(`screenshot ${path.relative(repo, file)}`);
        return file;
    };
    cleanups.unshift(async () => {
        if (process.exitCode) {
            await page.screenshot({ path: path.join(outputDir, "failure.png") }).catch(() => undefined);
            fs.writeFileSync(path.join(outputDir, "failure.html"), await page.content().catch(() => ""));
            fs.cpSync(path.join(userDir, "logs"), path.join(outputDir, "logs"), { recursive: true, force: true });
        }
    });

    const toast = (text) => page.locator(".notifications-toasts .notification-toast", { hasText: text });
    // The server's questions are modal dialogs (src/consent.ts), not toasts.
    const dialog = (text) => page.locator(".monaco-dialog-box", { hasText: text });
    const statusItem = page.locator(".statusbar-item", { hasText: "trimtab" }).first();
    const runCommand = async (label) => {
        await page.keyboard.press("F1");
        const input = page.locator(".quick-input-widget input");
        await input.waitFor({ state: "visible" });
        await input.fill(`>${label}`);
        const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
        await row.waitFor({ state: "visible" });
        await page.keyboard.press("Enter");
    };
    const dismissToasts = async () => {
        for (const close of await page.locator(".notifications-toasts .notification-toast .codicon-notifications-clear").all()) {
            await close.click({ force: true }).catch(() => undefined);
        }
        await page.keyboard.press("Escape");
    };

    await step("workbench loads; trimtab says plainly it is not installed", async () => {
        await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(project)}`);
        await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
        const msg = toast("trimtab is not installed");
        await msg.waitFor({ timeout: 90_000 });
        for (const button of ["Open Settings", "Install instructions"]) {
            await msg.locator(".monaco-button", { hasText: button }).waitFor();
        }
        await statusItem.filter({ hasText: "not installed" }).waitFor();
        await shot("not-installed");
    });

    await step("Open Settings (from the message): trimtab.python set to the venv, the server starts", async () => {
        await toast("trimtab is not installed").locator(".monaco-button", { hasText: "Open Settings" }).click();
        const item = page.locator(".settings-editor .setting-item", { hasText: "Python interpreter that has trimtab installed" }).first();
        await item.waitFor();
        const input = item.locator("input").first();
        await input.fill(python);
        await input.press("Tab");
        // The settings editor writes settings.json after a short delay.
        await waitFor("settings.json to name the venv", () => fs.readFileSync(settingsFile, "utf8").includes(python), 15_000);
        await shot("settings-python");
        await waitFor("the settings editor to close", async () => {
            if (!(await page.locator(".settings-editor").isVisible())) {
                return true;
            }
            await page.locator(".settings-editor .settings-header").first().click({ force: true }).catch(() => undefined);
            await page.keyboard.press("Escape");
            await sleep(300);
            return !(await page.locator(".settings-editor").isVisible());
        }, 15_000, 200);
        await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "schema.sql" }).click();
        await page.locator(".tab.active", { hasText: "schema.sql" }).waitFor();
        await statusItem.filter({ hasText: "in sync" }).waitFor({ timeout: 120_000 });
        await page.locator(".codelens-decoration", { hasText: "in sync with the database" }).waitFor({ timeout: 30_000 });
        await shot("in-sync");
        // .sql is PostgreSQL (the extension's language), and .trimtab/ stays out of the explorer.
        await page.locator(".statusbar-item", { hasText: "PostgreSQL" }).first().waitFor({ timeout: 10_000 });
        if (fs.existsSync(path.join(project, ".trimtab"))
                && await page.locator(".explorer-folders-view .monaco-list-row", { hasText: ".trimtab" }).count() > 0) {
            throw new Error(".trimtab/ is shown in the explorer");
        }
    });

    await step("drop customers.name: warning squiggle and status", async () => {
        const editor = page.locator(".monaco-editor .view-lines").first();
        await editor.click();
        await page.keyboard.press("Control+G");
        await page.keyboard.type("8");
        await page.keyboard.press("Enter");
        await page.locator(".statusbar-item", { hasText: "Ln 8, Col 1" }).waitFor();
        await page.keyboard.press("Control+Shift+K");
        await page.keyboard.press("Control+S");
        const schema = path.join(project, "schema.sql");
        await waitFor("the saved schema without customers.name", () => {
            const text = fs.readFileSync(schema, "utf8");
            return !/^\s*name\s+text NOT NULL,$/m.test(text) && /^\s*email\s+text NOT NULL UNIQUE,$/m.test(text);
        }, 10_000);
        await page.locator(".monaco-editor .squiggly-warning").first().waitFor({ timeout: 90_000 });
        await statusItem.filter({ hasText: "1 pending change" }).waitFor({ timeout: 60_000 });
        await page.locator(".codelens-decoration", { hasText: "1 pending change" }).waitFor();
        await page.mouse.move(5, 400);
        await shot("drops-column-warning");
    });

    await step("Problems lists the drops-column warning", async () => {
        await page.keyboard.press("Control+Shift+M");
        const row = page.locator(".markers-panel .monaco-list-row", { hasText: "drops-column" }).first();
        await row.waitFor({ timeout: 20_000 });
        const text = await page.locator(".markers-panel").innerText();
        if (!/customers\.name/.test(text) || !/3 non-null/.test(text)) {
            throw new Error(`unexpected Problems text: ${text}`);
        }
        log(`problems: ${text.replace(/\s+/g, " ").slice(0, 200)}`);
        await shot("problems");
    });

    await step("hover shows the pending SQL", async () => {
        const squiggle = page.locator(".monaco-editor .squiggly-warning").first();
        const box = await squiggle.boundingBox();
        if (!box) {
            throw new Error("no squiggle box");
        }
        const hover = page.locator(".monaco-hover:visible", { hasText: "DROP COLUMN" });
        await waitFor("the hover", async () => {
            await page.mouse.move(box.x + Math.min(box.width / 2, 40), box.y + box.height / 2 - 1, { steps: 3 });
            await hover.first().waitFor({ timeout: 3000 });
            return true;
        }, 30_000, 100);
        const text = await hover.first().innerText();
        if (!/ALTER TABLE public\.customers DROP COLUMN name/.test(text)) {
            throw new Error(`unexpected hover: ${text}`);
        }
        await shot("hover-pending-sql");
        await page.mouse.move(5, 400);
        await page.keyboard.press("Escape");
    });

    await step("Show Pending SQL from the status bar: the plan beside the schema", async () => {
        await statusItem.click();
        const plan = page.locator(".editor-instance .view-lines", { hasText: "DROP COLUMN name" });
        await plan.first().waitFor({ timeout: 30_000 });
        await page.locator(".tab", { hasText: "pending.sql" }).first().waitFor();
        await shot("pending-sql");
    });

    await step("Generate Migration from the source action", async () => {
        // Back to the schema editor, then the editor's source actions.
        await page.locator(".tab", { hasText: "schema.sql" }).first().click();
        await page.keyboard.press("Control+G");
        await page.keyboard.type("5");
        await page.keyboard.press("Enter");
        await runCommand("Source Action...");
        const action = page.locator(".action-widget .monaco-list-row", { hasText: "trimtab: Generate a migration" });
        await action.waitFor({ timeout: 20_000 });
        await shot("source-actions");
        await action.click();
        const name = page.locator(".quick-input-widget", { hasText: "Generate Migration" });
        await name.waitFor();
        await page.keyboard.press("Enter"); // empty: named after what changed
        const consent = dialog("this migration loses data");
        await consent.waitFor({ timeout: 60_000 });
        await shot("generate-consent");
        await consent.locator(".monaco-button", { hasText: "Write it" }).click();
        const dir = path.join(project, "migrations");
        const file = await waitFor("the migration file", () =>
            fs.readdirSync(dir).find((f) => /^0001_.*\.sql$/.test(f)), 60_000);
        const sql = fs.readFileSync(path.join(dir, file), "utf8");
        if (!/DROP COLUMN/.test(sql)) {
            throw new Error(`unexpected migration ${file}:\n${sql}`);
        }
        await page.locator(".tab", { hasText: file }).first().waitFor({ timeout: 30_000 });
        await toast("wrote").first().waitFor({ timeout: 30_000 });
        // The live plan follows: the change is in a migration now.
        await waitFor("the plan to drop its 'not yet in a migration' part", async () =>
            (await page.locator(".editor-instance .view-lines", { hasText: "not yet in a migration" }).count()) === 0, 30_000);
        log(`migration: migrations/${file}`);
        await shot("generated-migration");
    });

    await step("Push (palette) answered Cancel: the database keeps the column", async () => {
        await dismissToasts();
        await page.locator(".tab", { hasText: "schema.sql" }).first().click();
        await page.keyboard.press("Control+Home");
        await runCommand("trimtab: Push");
        // The database has applied migrations: a push makes it diverge from them; asked first.
        const history = dialog("this database has applied migrations");
        await history.waitFor({ timeout: 60_000 });
        await history.locator(".monaco-button", { hasText: /^Push$/ }).click();
        const ask = dialog("this push loses data");
        await ask.waitFor({ timeout: 60_000 });
        // The whole plan is in the dialog, and no command-line flag.
        const asked = await ask.innerText();
        if (!/ALTER TABLE public\.customers DROP COLUMN name/.test(asked) || /--force/.test(asked)) {
            throw new Error(`unexpected consent dialog: ${asked}`);
        }
        await shot("push-consent");
        // Show SQL: the plan read-only in an editor, then the same question again.
        await ask.locator(".monaco-button", { hasText: "Show SQL" }).click();
        await page.locator(".tab", { hasText: "plan 1.sql" }).first().waitFor({ timeout: 30_000 });
        await ask.waitFor({ timeout: 30_000 });
        await shot("push-consent-sql");
        await ask.locator(".monaco-button", { hasText: "Cancel" }).click();
        await toast("nothing was applied").first().waitFor({ timeout: 30_000 }).catch(() => undefined);
        await sleep(1000);
        const state = db(python, project);
        if (!state.columns.includes("name") || state.rows !== 3) {
            throw new Error(`Cancel changed the database: ${JSON.stringify(state)}`);
        }
        log(`after Cancel: customers(${state.columns.join(", ")}), ${state.rows} rows`);
    });

    await step("Push (CodeLens) answered Apply: the column is dropped, the plan empties", async () => {
        await dismissToasts();
        await page.locator(".tab", { hasText: "schema.sql" }).first().click();
        await page.locator(".monaco-editor .view-lines").first().click();
        await page.keyboard.press("Control+Home");
        await page.locator(".codelens-decoration a", { hasText: /^Push$/ }).first().click();
        const history = dialog("this database has applied migrations");
        await history.waitFor({ timeout: 60_000 });
        await history.locator(".monaco-button", { hasText: /^Push$/ }).click();
        const ask = dialog("this push loses data");
        await ask.waitFor({ timeout: 60_000 });
        await ask.locator(".monaco-button", { hasText: "Apply" }).click();
        // The pending 0001 makes the same change: push overtakes it, asked last.
        const overtake = dialog("pending migration 0001");
        await overtake.waitFor({ timeout: 60_000 });
        await overtake.locator(".monaco-button", { hasText: /^Push$/ }).click();
        await toast("applied 1 change").first().waitFor({ timeout: 60_000 });
        const state = await waitFor("the column to go", () => {
            const s = db(python, project);
            return s.columns.includes("name") ? undefined : s;
        }, 30_000);
        if (state.rows !== 3) {
            throw new Error(`unexpected rows after push: ${JSON.stringify(state)}`);
        }
        log(`after Apply: customers(${state.columns.join(", ")}), ${state.rows} rows`);
        // The database now matches the schema; the pending 0001 it overtook is what it already
        // has, and the schema says so (already-made: record it with Mark applied). Nothing is
        // left to push.
        await statusItem.filter({ hasText: "in sync" }).waitFor({ timeout: 60_000 });
        await page.locator(".editor-instance .view-lines", { hasText: "0 changes" }).first().waitFor({ timeout: 30_000 });
        await page.locator(".markers-panel .monaco-list-row", { hasText: "already-made" }).first().waitFor({ timeout: 30_000 });
        await shot("pushed");
    });

    await step("Set Database URL (stored securely): the server uses it, settings.json never sees it", async () => {
        await dismissToasts();
        const secret = "s3cret-pw";
        await runCommand("trimtab: Set Database URL (stored securely)");
        const input = page.locator(".quick-input-widget input[type=password]");
        await input.waitFor();
        await input.fill(`postgresql://app:${secret}@127.0.0.1:1/app`);
        await page.keyboard.press("Enter");
        await statusItem.filter({ hasText: "database unreachable" }).waitFor({ timeout: 60_000 });
        const warning = toast("cannot be reached");
        await warning.first().waitFor({ timeout: 30_000 });
        await page.locator(".editor-instance .view-lines", { hasText: "database unreachable" }).first().waitFor({ timeout: 30_000 });
        const shown = [await warning.first().innerText(), await statusItem.getAttribute("aria-label"),
            ...(await page.locator(".editor-instance .view-lines").allInnerTexts())].join("\n");
        if (shown.includes(secret)) {
            throw new Error(`the password is shown: ${shown}`);
        }
        if (fs.readFileSync(settingsFile, "utf8").includes(secret)) {
            throw new Error("the password landed in settings.json");
        }
        await shot("unreachable");
        await runCommand("trimtab: Clear Database URL");
        // Back on the project's own database. The server's "reachable again" message is
        // asserted in tests/test_lsp_robustness.py; the server sends it here too (seen in a
        // debug log), but this code-server shows no toast for it next to the command's own.
        await statusItem.filter({ hasText: "in sync" }).waitFor({ timeout: 60_000 });
    });

    await step("multi-root: a second project gets its own server, diagnostics and status", async () => {
        const project2 = path.join(tmp, "inventory");
        fs.cpSync(path.join(repo, "fixtures", "quickstart"), project2, { recursive: true });
        cleanups.splice(cleanups.length - 1, 0, () => spawnSync(trimtab, ["db", "stop"], { cwd: project2, stdio: "ignore" }));
        const workspaceFile = path.join(tmp, "shop.code-workspace");
        fs.writeFileSync(workspaceFile, JSON.stringify({ folders: [{ path: project }, { path: project2 }] }));
        const rows = page.locator(".explorer-folders-view .monaco-list-row");
        // A workspace opened right after the previous window sometimes shows no folder on the
        // first load (code-server); a reload reads it again.
        await waitFor("the two-folder workspace", async () => {
            await page.goto(`http://127.0.0.1:${port}/?workspace=${encodeURIComponent(workspaceFile)}`);
            await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
            await rows.filter({ hasText: /^inventory$/ }).waitFor({ timeout: 15_000 });
            return true;
        }, 90_000, 0);
        const bothRows = async () => (await rows.filter({ hasText: "schema.sql" }).count()) === 2;
        await waitFor("both schema.sql rows", async () => {
            if (await bothRows()) {
                return true;
            }
            await rows.filter({ hasText: /^inventory$/ }).click();
            await page.keyboard.press("ArrowRight"); // expands the selected folder
            await sleep(500);
            return bothRows();
        }, 20_000, 500);
        // The second folder's database is empty: every table is a pending change.
        await rows.filter({ hasText: "schema.sql" }).nth(1).click();
        await statusItem.filter({ hasText: /\d+ pending changes/ }).waitFor({ timeout: 90_000 });
        const tooltip = await statusItem.getAttribute("aria-label");
        await page.locator(".codelens-decoration", { hasText: "pending changes" }).first().waitFor({ timeout: 30_000 });
        await shot("multi-root");
        // The first folder keeps its own state.
        await rows.filter({ hasText: "schema.sql" }).nth(0).click();
        await statusItem.filter({ hasText: "in sync" }).waitFor({ timeout: 60_000 });
        const hostLogs = fs.readdirSync(path.join(userDir, "logs"), { recursive: true })
            .filter((f) => String(f).endsWith("exthost.log") || String(f).endsWith("remoteexthost.log"))
            .map((f) => fs.readFileSync(path.join(userDir, "logs", String(f)), "utf8")).join("\n");
        if (/command 'trimtab\.[a-zA-Z]+' already exists/.test(hostLogs)) {
            throw new Error("a trimtab command was registered twice");
        }
        log(`status of the second folder: ${tooltip ?? ""}`.replace(/\s+/g, " ").slice(0, 160));
    });

    // -- Writing SQL: the language features, as a user types, in the first project again ------

    const schemaFile = path.join(project, "schema.sql");
    const editorLines = page.locator(".editor-group-container.active .editor-instance .monaco-editor .view-lines").first();
    const editorText = async () => (await editorLines.innerText()).replace(/\u00a0/g, " ");
    const explorerRows = page.locator(".explorer-folders-view .monaco-list-row");
    const pendingLens = (n) => page.locator(".codelens-decoration", { hasText: `${n} pending change${n === 1 ? "" : "s"}` }).first();
    const problem = (text) => page.locator(".markers-panel .monaco-list-row", { hasText: text }).first();
    const suggestion = (label) => page.locator(".suggest-widget .monaco-list-row", { hasText: label }).first();
    /** Puts the cursor on `word` inside the first match of `pattern` in the saved file (Go to Line/Column). */
    const cursorAt = async (file, pattern, word) => {
        const text = fs.readFileSync(file, "utf8");
        const m = pattern.exec(text);
        if (!m) {
            throw new Error(`${path.basename(file)} has no ${pattern}`);
        }
        const offset = m.index + m[0].indexOf(word);
        const before = text.slice(0, offset).split("\n");
        const [line, col] = [before.length, before[before.length - 1].length + 1];
        await page.keyboard.press("Control+G");
        await page.locator(".quick-input-widget input").waitFor({ state: "visible" });
        await page.keyboard.type(`${line}:${col}`);
        await page.keyboard.press("Enter");
        await page.locator(".statusbar-item", { hasText: `Ln ${line}, Col ${col}` }).first().waitFor();
        return line;
    };
    const openFromExplorer = async (folder, name) => {
        const row = explorerRows.filter({ hasText: new RegExp(`^${name.replace(/\./g, "\\.")}$`) });
        if (folder && await row.count() === 0) {
            await explorerRows.filter({ hasText: new RegExp(`^${folder}$`) }).click();
        }
        await row.click();
        await page.locator(".tab.active", { hasText: name }).waitFor();
    };

    await step("Writing SQL: the project again, with a table only the database has, a migration and a query file", async () => {
        db(python, project, "writing");
        fs.writeFileSync(path.join(project, "migrations", "0002_customers_email_idx.sql"),
            "CREATE INDEX customers_email_idx ON customers (email);\n");
        fs.mkdirSync(path.join(project, "queries"));
        fs.writeFileSync(path.join(project, "queries", "customers.sql"),
            "-- The customers, newest first.\nSELECT email, name\n  FROM customers\n ORDER BY created_at DESC;\n");
        await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(project)}`);
        await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
        await explorerRows.filter({ hasText: /^queries$/ }).waitFor({ timeout: 60_000 });
        await runCommand("View: Close All Editors");
        if (await page.locator(".part.panel").isVisible()) {
            await page.keyboard.press("Control+J");
            await page.locator(".part.panel").waitFor({ state: "hidden" });
        }
        await openFromExplorer(null, "schema.sql");
        // The database has a table the schema does not: one pending change (its drop).
        await pendingLens(1).waitFor({ timeout: 120_000 });
        // .sql is PostgreSQL (the extension's language), and .trimtab/ stays out of the explorer.
        await page.locator(".statusbar-item", { hasText: /^PostgreSQL$/ }).first().waitFor({ timeout: 10_000 });
        // The folder is there (the embedded server's data), and the explorer does not show it.
        if (!fs.existsSync(path.join(project, ".trimtab"))) {
            throw new Error("no .trimtab/ in the project: nothing to hide");
        }
        if (await explorerRows.filter({ hasText: /^\.trimtab$/ }).count() > 0) {
            throw new Error(".trimtab/ is shown in the explorer");
        }
        await shot("language-mode");
    });

    await step("hover on a referenced table: its columns and live row count", async () => {
        await editorLines.click();
        await cursorAt(schemaFile, /REFERENCES customers/, "customers");
        await page.keyboard.press("Control+K");
        await page.keyboard.press("Control+I");
        const hover = page.locator(".monaco-hover:visible", { hasText: "email" }).first();
        await hover.waitFor({ timeout: 30_000 });
        const text = await hover.innerText();
        if (!/created_at/.test(text) || !/~3 rows/.test(text)) {
            throw new Error(`unexpected hover: ${text}`);
        }
        await shot("hover-table");
        await page.keyboard.press("Escape");
    });

    await step("Find All References on a table", async () => {
        await cursorAt(schemaFile, /CREATE TABLE orders/, "orders");
        await page.keyboard.press("Shift+Alt+F12");
        const summary = page.getByText(/\d+ results? in 1 file/).first();
        await summary.waitFor({ timeout: 30_000 });
        const count = Number(/(\d+) result/.exec(await summary.innerText())[1]);
        // The declaration, REFERENCES orders, CREATE INDEX ... ON orders, COMMENT ON TABLE orders.
        if (count < 4) {
            throw new Error(`only ${count} references to orders`);
        }
        await page.locator(".monaco-list-row", { hasText: "ON TABLE orders IS" }).first().waitFor();
        await shot("references");
        await page.keyboard.press("Escape");
    });

    await step("Go to Symbol in Workspace", async () => {
        await page.keyboard.press("Control+Shift+E"); // the explorer back in the side bar
        await editorLines.click();
        await page.keyboard.press("Control+T");
        await page.keyboard.type("order");
        for (const name of ["orders", "order_items", "order_status", "orders_customer_placed_idx"]) {
            await page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().waitFor({ timeout: 30_000 });
        }
        await shot("workspace-symbols");
        await page.keyboard.press("Escape");
    });

    await step("semantic tokens: a table, a column and a type get trimtab's token types", async () => {
        await editorLines.click();
        // What VS Code's own inspector shows for the word under the cursor.
        const inspect = async (pattern, word, type) => {
            await cursorAt(schemaFile, pattern, word);
            await runCommand("Developer: Inspect Editor Tokens and Scopes");
            const widget = page.locator(".token-inspect-widget", { hasText: "semantic token type" });
            await widget.waitFor({ timeout: 30_000 });
            const text = (await widget.innerText()).replace(/\s+/g, " ");
            if (!new RegExp(`semantic token type ${type}`).test(text)) {
                throw new Error(`${word}: unexpected token inspection: ${text}`);
            }
            return text;
        };
        await inspect(/^\s+email\s+text/m, "email", "property");
        await page.keyboard.press("Escape");
        await inspect(/^\s+email\s+text/m, "text", "type");
        await page.keyboard.press("Escape");
        const table = await inspect(/CREATE TABLE customers/, "customers", "class");
        if (!/modifiers declaration/.test(table)) {
            throw new Error(`the declaration modifier is missing: ${table}`);
        }
        await shot("semantic-tokens");
        await page.keyboard.press("Escape");
        await page.locator(".token-inspect-widget").waitFor({ state: "detached" });
    });

    await step("inlay hints: live row counts after table names, on in the workspace settings", async () => {
        const workspaceSettings = path.join(project, ".vscode", "settings.json");
        fs.mkdirSync(path.dirname(workspaceSettings), { recursive: true });
        fs.writeFileSync(workspaceSettings, JSON.stringify({ "trimtab.inlayHints.rowCounts": true }, null, 4));
        const customersLine = async () => (await editorText()).split("\n").find((l) => l.includes("CREATE TABLE customers")) ?? "";
        // The hint is the planner's estimate from the live catalog: the three customers.
        await waitFor("the row count after customers", async () => /CREATE TABLE customers\s*~3 rows/.test(await customersLine()), 60_000, 200);
        await editorLines.click();
        await cursorAt(schemaFile, /CREATE TABLE customers/, "customers");
        await shot("inlay-row-counts");
        // Off again (the default): the hints go, and later steps see the plain text.
        fs.writeFileSync(workspaceSettings, "{}\n");
        await waitFor("no row count after customers", async () => !/rows/.test(await customersLine()), 60_000, 200);
    });

    await step("F2 renames a column: its references follow and the rename hint is written", async () => {
        await editorLines.click();
        await cursorAt(schemaFile, /^\s+id\s+bigint GENERATED/m, "id"); // customers.id, the first table's
        await page.keyboard.press("F2");
        // The box opens once the server has answered prepareRename, with the focus in it.
        const box = page.locator(".rename-box input:focus").first();
        await box.waitFor({ timeout: 30_000 });
        if (await box.inputValue() !== "id") {
            throw new Error(`the rename box offers ${await box.inputValue()}`);
        }
        await box.press("Control+A");
        await page.keyboard.type("customer_no");
        await page.keyboard.press("Enter");
        await waitFor("the renamed reference in the editor", async () =>
            (await editorText()).includes("REFERENCES customers (customer_no)"), 30_000, 200);
        await page.keyboard.press("Control+S");
        const text = await waitFor("the saved rename", () => {
            const t = fs.readFileSync(schemaFile, "utf8");
            return t.includes("REFERENCES customers (customer_no)") ? t : undefined;
        }, 10_000);
        if (!/-- trimtab: renamed from id\s*\n\s*customer_no\s+bigint GENERATED/.test(text)
                || (text.match(/REFERENCES orders \(id\)/g) ?? []).length !== 1) {
            throw new Error(`unexpected schema after the rename:\n${text}`);
        }
        // With the hint, push renames instead of dropping and adding.
        const plan = run(trimtab, ["push", "--dry-run"], { cwd: project });
        if (!/RENAME COLUMN id TO customer_no/.test(plan) || /DROP COLUMN id/.test(plan)) {
            throw new Error(`unexpected plan after the rename:\n${plan}`);
        }
        await page.locator(".codelens-decoration", { hasText: /[2-9] pending changes/ }).first().waitFor({ timeout: 60_000 });
        await shot("rename");
    });

    await step("completion after REFERENCES (file and database tables) and in a column's type", async () => {
        const lensBefore = await page.locator(".codelens-decoration", { hasText: /\d+ pending changes/ }).first().innerText();
        await page.keyboard.press("Control+End");
        await page.keyboard.press("Enter");
        // Typed as people type a first draft: one column a line, not indented (Format Document
        // lays it out below). Escape closes the suggestions before each Enter.
        const newLine = async () => {
            await page.keyboard.press("Escape");
            await page.keyboard.press("Enter");
        };
        await page.keyboard.type("CREATE TABLE reviews (id bigint PRIMARY KEY,");
        await newLine();
        await page.keyboard.type("product_id bigint REFERENCES ");
        for (const label of ["products", "customers", "audit_log"]) {
            await suggestion(label).waitFor({ timeout: 30_000 });
        }
        // The last one is the database's own (ArrowUp wraps round to it): VS Code shows its detail.
        await page.keyboard.press("ArrowUp");
        await page.locator(".suggest-widget .monaco-list-row.focused", { hasText: "audit_log" })
            .filter({ hasText: "table (database)" }).waitFor();
        await shot("completion-references");
        await page.keyboard.type("produ");
        await page.locator(".suggest-widget .monaco-list-row.focused", { hasText: "products" }).waitFor();
        await page.keyboard.press("Enter");
        await page.keyboard.type(",");
        await newLine();
        await page.keyboard.type("rating ");
        // The file's enum first, then the built-in types (the list scrolls; these are on top).
        await page.locator(".suggest-widget .monaco-list-row.focused", { hasText: "order_status" })
            .filter({ hasText: "enum (schema file)" }).waitFor({ timeout: 30_000 });
        for (const label of ["bigint", "boolean"]) {
            await suggestion(label).waitFor({ timeout: 30_000 });
        }
        await shot("completion-type");
        await page.keyboard.type("integer");
        await page.keyboard.press("Escape");
        await page.keyboard.type(" NOT NULL,");
        await newLine();
        await page.keyboard.type("created_at timestamptz DEFAULT date_trunc(");
        const hints = page.locator(".parameter-hints-widget", { hasText: "date_trunc" });
        await hints.waitFor({ timeout: 30_000 });
        const sig = (await hints.innerText()).replace(/\s+/g, " ");
        if (!/timestamp with time zone|timestamptz/.test(sig)) {
            throw new Error(`unexpected signature help: ${sig}`);
        }
        await shot("signature-help");
        await page.keyboard.type("'day', now()));");
        await page.keyboard.press("Escape");
        await page.keyboard.press("Control+S");
        const want = "CREATE TABLE reviews (id bigint PRIMARY KEY,\nproduct_id bigint REFERENCES products,\n"
            + "rating integer NOT NULL,\ncreated_at timestamptz DEFAULT date_trunc('day', now()));";
        await waitFor("the typed table in the file", () => fs.readFileSync(schemaFile, "utf8").includes(want), 10_000);
        const lens = page.locator(".codelens-decoration", { hasText: /\d+ pending changes/ }).first();
        await waitFor("the new table in the plan", async () => (await lens.innerText()) !== lensBefore, 60_000, 200);
    });

    await step("a PL/pgSQL error is shown at its line in the function body", async () => {
        await page.keyboard.press("Control+End");
        await page.keyboard.press("Enter");
        // Pasted, as a function usually arrives.
        await page.keyboard.insertText("CREATE FUNCTION review_count(p bigint) RETURNS bigint LANGUAGE plpgsql AS $$\n"
            + "BEGIN\n  RETRUN (SELECT count(*) FROM reviews WHERE product_id = p);\nEND\n$$;\n");
        await page.keyboard.press("Control+S");
        await waitFor("the function in the file", () => fs.readFileSync(schemaFile, "utf8").includes("RETRUN"), 10_000);
        const line = fs.readFileSync(schemaFile, "utf8").split("\n").findIndex((l) => l.includes("RETRUN")) + 1;
        await page.keyboard.press("Control+Shift+M");
        const row = problem("RETRUN");
        await row.waitFor({ timeout: 60_000 });
        const text = await row.innerText();
        if (!text.includes(`Ln ${line}, Col 3`)) {
            throw new Error(`the error is not at the body's line ${line}: ${text}`);
        }
        await row.click(); // the editor shows the line
        await page.locator(".monaco-editor .squiggly-error").first().waitFor();
        await shot("plpgsql-error");
        // Corrected: the error goes.
        await editorLines.click();
        await cursorAt(schemaFile, /RETRUN/, "RETRUN");
        await page.keyboard.press("Control+Shift+ArrowRight");
        await page.keyboard.type("RETURN");
        await page.keyboard.press("Control+S");
        await row.waitFor({ state: "detached", timeout: 60_000 });
        await page.keyboard.press("Control+J"); // the panel away again: the whole editor to see
        await page.locator(".part.panel").waitFor({ state: "hidden" });
    });

    await step("Format Document lays the typed table out", async () => {
        const planBefore = run(trimtab, ["push", "--dry-run"], { cwd: project });
        await editorLines.click();
        // From the palette: in a browser, Shift+Alt+F is taken by the menu bar's File mnemonic.
        await page.keyboard.press("F1");
        await page.locator(".quick-input-widget input").fill(">Format Document");
        await page.locator(".quick-input-list .monaco-list-row", { hasText: /^Format Document(?!\s*With)/ }).first().click();
        const want = "CREATE TABLE reviews (\n  id bigint PRIMARY KEY,\n  product_id bigint REFERENCES products,\n"
            + "  rating integer NOT NULL,\n  created_at timestamptz DEFAULT date_trunc('day', now())\n);";
        await waitFor("the formatted table in the editor", async () =>
            (await editorText()).includes("  product_id bigint REFERENCES products,"), 30_000, 200);
        await page.keyboard.press("Control+S");
        await waitFor("the formatted file", () => fs.readFileSync(schemaFile, "utf8").includes(want), 10_000);
        // Only the layout changed: push plans the same SQL.
        if (run(trimtab, ["push", "--dry-run"], { cwd: project }) !== planBefore) {
            throw new Error("the plan changed with the layout");
        }
        await cursorAt(schemaFile, /CREATE TABLE reviews/, "reviews");
        await shot("format-document");
    });

    await step("Fold All folds each statement, its closing line included", async () => {
        await page.keyboard.press("Control+Home");
        await page.keyboard.press("Control+K");
        await page.keyboard.press("Control+0");
        await waitFor("the folded statements", async () =>
            (await page.locator(".monaco-editor .inline-folded").count()) >= 5, 30_000, 200);
        const lines = (await editorText()).split("\n").map((l) => l.trim());
        if (lines.includes(");") || lines.some((l) => l.startsWith("email"))) {
            throw new Error(`not folded by statement:\n${lines.join("\n")}`);
        }
        await shot("folding");
        await page.keyboard.press("Control+K");
        await page.keyboard.press("Control+J");
        await waitFor("unfolded", async () => (await page.locator(".monaco-editor .inline-folded").count()) === 0, 10_000, 200);
    });

    await step("diagnostics in a migration file: an online-safety finding", async () => {
        await openFromExplorer("migrations", "0002_customers_email_idx.sql");
        await page.keyboard.press("Control+Shift+M");
        const row = problem("require-lock-timeout");
        await row.waitFor({ timeout: 60_000 });
        await page.locator(".monaco-editor .squiggly-warning, .monaco-editor .squiggly-error").first().waitFor();
        log(`migration: ${(await row.innerText()).replace(/\s+/g, " ").slice(0, 160)}`);
        await shot("migration-diagnostics");
    });

    await step("diagnostics in a query file: checked against the schema", async () => {
        await openFromExplorer("queries", "customers.sql");
        const row = problem('column "name" does not exist');
        await row.waitFor({ timeout: 90_000 });
        const text = await row.innerText();
        if (!text.includes("Ln 2, Col 15")) {
            throw new Error(`the error is not at name in line 2: ${text}`);
        }
        await shot("query-diagnostics");
    });

    await step("completion in a Drizzle schema.ts: the tables inside .references(() => ", async () => {
        const app = path.join(tmp, "drizzle-app");
        fs.cpSync(path.join(repo, "fixtures", "drizzle", "sample"), app, { recursive: true });
        cleanups.splice(cleanups.length - 1, 0, () => spawnSync(trimtab, ["db", "stop"], { cwd: app, stdio: "ignore" }));
        const schemaTs = path.join(app, "schema.ts");
        await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(app)}`);
        await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
        await explorerRows.filter({ hasText: /^drizzle\.config\.ts$/ }).waitFor({ timeout: 60_000 });
        await runCommand("View: Close All Editors");
        if (await page.locator(".part.panel").isVisible()) {
            await page.keyboard.press("Control+J");
            await page.locator(".part.panel").waitFor({ state: "hidden" });
        }
        await openFromExplorer(null, "schema.ts");
        // The project's server has read schema.ts: its (empty) database lacks every table.
        await statusItem.filter({ hasText: /\d+ pending changes/ }).waitFor({ timeout: 120_000 });
        await editorLines.click();
        await cursorAt(schemaTs, /title: text\("title"\)\.notNull\(\),/, ",");
        // The closing bracket first (brackets are not auto-closed here), so the file stays
        // valid TypeScript around the cursor; the space after `=>` asks for completion.
        await page.keyboard.type(")");
        await page.keyboard.press("ArrowLeft");
        await page.keyboard.type(".references(() => ");
        // trimtab's items: the schema's table variables, each with the table's database name.
        for (const name of ["users", "posts", "comments"]) {
            await page.locator(".suggest-widget .monaco-list-row", { hasText: name })
                .filter({ hasText: `table ${name}` }).first().waitFor({ timeout: 30_000 });
        }
        await page.keyboard.type("us");
        await page.locator(".suggest-widget .monaco-list-row.focused", { hasText: "users" })
            .filter({ hasText: "table users" }).waitFor({ timeout: 30_000 });
        await shot("completion-schema-ts");
        await page.keyboard.press("Enter");
        // Then users' columns, each with the name and type the database has.
        await page.keyboard.type(".");
        await page.locator(".suggest-widget .monaco-list-row", { hasText: "displayName" })
            .filter({ hasText: "column display_name text of users" }).first().waitFor({ timeout: 30_000 });
        await page.keyboard.type("id");
        await page.keyboard.press("Escape");
        await page.keyboard.press("Control+S");
        await waitFor("the accepted table in schema.ts", () => fs.readFileSync(schemaTs, "utf8")
            .includes('title: text("title").notNull().references(() => users.id),'), 10_000);
    });

    if (updateDocs) {
        const docsImages = path.join(repo, "docs", "images");
        fs.mkdirSync(docsImages, { recursive: true });
        const forDocs = shots.filter((f) => DOC_SHOTS.includes(path.basename(f).replace(/^\d+-|\.png$/g, "")));
        for (const file of forDocs) {
            fs.copyFileSync(file, path.join(docsImages, path.basename(file).replace(/^\d+-/, "vscode-")));
        }
        log(`copied ${forDocs.length} screenshots to docs/images/ (vscode-*.png)`);
    }

    console.log("\nstep timings:");
    for (const [name, took] of timings) {
        console.log(`  ${took.toFixed(1).padStart(6)} s  ${name}`);
    }
    console.log(`screenshots: ${path.relative(process.cwd(), shotsDir)}/ (${shots.length})`);
}

let failed = false;
try {
    await main();
} catch (err) {
    failed = true;
    process.exitCode = 1;
    console.error(`\n[e2e] FAILED after ${secs()} s: ${err instanceof Error ? err.stack : err}`);
    console.error(`[e2e] logs: ${outputDir}`);
} finally {
    for (const c of cleanups) {
        try {
            await c();
        } catch {
            // best effort
        }
    }
}
console.log(`${failed ? 0 : 1} passed, ${failed ? 1 : 0} failed (end-to-end, ${secs()} s)`);
process.exit(failed ? 1 : 0);
