// The trimtab extension: starts `trimtab lsp` for each trimtab project in the workspace and
// adds commands, a status bar item, CodeLens and a live "pending SQL" document around it.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
    DidChangeConfigurationNotification,
    ExecuteCommandRequest,
    type MessageActionItem,
    type Middleware,
    ShowMessageRequest,
    type ShowMessageRequestParams,
    State,
} from "vscode-languageclient/node";
import { createClient, type TrimtabLanguageClient } from "./client";
import { answerFor, consentDialog, SHOW_SQL } from "./consent";
import { SQL_LANGUAGES } from "./languages";
import {
    describeFailure,
    interpretProbe,
    probeCommand,
    type ProbeOutput,
    type ProbeResult,
    sameLaunch,
    type ServerLaunch,
    serverCandidates,
    serverCwd,
    skippedUntrusted,
} from "./interpreter";
import { onInterpreterChange, selectedInterpreter } from "./pythonExtension";
import { NEW_LINK_REQUEST, studioSpawn, studioUrl } from "./studio";
import {
    type ExtensionSettings,
    hasToolTrimtab,
    interpreterSettings,
    launchValue,
    redactUrl,
    secretKey,
    severityFor,
    type SeverityName,
    toServerSettings,
    urlHasPassword,
    validateDatabaseUrl,
} from "./settings";
import {
    type ClientPhase,
    codeLensSummary,
    commandError,
    parseStatus,
    statusView,
    type TrimtabStatus,
} from "./status";

const SECTION = "trimtab";
const PLAN_SCHEME = "trimtab-plan";
const CONSENT_SCHEME = "trimtab-consent";
/** The commands the server implements; the extension registers each once (see client.ts). */
const SERVER_COMMANDS = ["trimtab.push", "trimtab.generate", "trimtab.migrate", "trimtab.refresh",
    "trimtab.showPlan", "trimtab.writeRenameHint"];
const EXCLUDE = "**/{node_modules,.git,.venv,venv,.tox,.trimtab,__pycache__}/**";
/** Server commands that write files or databases: refused in an untrusted workspace. */
const WRITE_COMMANDS = ["trimtab.push", "trimtab.generate", "trimtab.migrate"];
/** The server's notification that the user trusted the workspace (no restart needed). */
const TRUST_NOTIFICATION = "trimtab/workspaceTrust";

function config(folder: vscode.WorkspaceFolder | vscode.Uri | undefined): ExtensionSettings {
    const c = vscode.workspace.getConfiguration(SECTION, folder);
    // The settings that name a program to run: the user's own only, until the workspace is
    // trusted (package.json also lists them in restrictedConfigurations).
    const trusted = vscode.workspace.isTrusted;
    return {
        python: launchValue(c.inspect<string>("python"), trusted),
        server: { path: launchValue(c.inspect<string>("server.path"), trusted) },
        databaseUrl: c.get("databaseUrl"),
        databaseUrlEnv: c.get("databaseUrlEnv"),
        schema: c.get("schema"),
        migrations: c.get("migrations"),
        refreshInterval: c.get("refreshInterval"),
        measureTimeout: c.get("measureTimeout"),
        exactDelay: c.get("exactDelay"),
        diagnostics: { severity: c.get("diagnostics.severity") },
        inlayHints: { rowCounts: c.get("inlayHints.rowCounts") },
    };
}

function isInside(file: string, dir: string): boolean {
    const rel = path.relative(dir, file);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

async function exists(uri: vscode.Uri): Promise<boolean> {
    try {
        await vscode.workspace.fs.stat(uri);
        return true;
    } catch {
        return false;
    }
}

/** trimtab.toml, a pyproject.toml with [tool.trimtab], or a drizzle.config.ts, directly in `dir`. */
async function isProjectDir(dir: vscode.Uri): Promise<boolean> {
    if (await exists(vscode.Uri.joinPath(dir, "trimtab.toml"))
        || await exists(vscode.Uri.joinPath(dir, "drizzle.config.ts"))) {
        return true;
    }
    try {
        const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(dir, "pyproject.toml"));
        return hasToolTrimtab(new TextDecoder().decode(bytes));
    } catch {
        return false;
    }
}

function probe(launch: ServerLaunch, cwd: string): Promise<ProbeResult> {
    const { command, args } = probeCommand(launch);
    return new Promise((resolve) => {
        execFile(command, args, { cwd, timeout: 60_000, windowsHide: true }, (err, stdout, stderr) => {
            const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
            const out: ProbeOutput = {
                code: e ? (typeof e.code === "number" ? e.code : null) : 0,
                stdout: String(stdout ?? ""),
                stderr: String(stderr ?? ""),
                error: e && typeof e.code === "string" ? e.code : e?.killed ? "timeout" : undefined,
            };
            if (e && out.code === null && !out.error) {
                out.error = e.message;
            }
            resolve(interpretProbe(launch, out));
        });
    });
}

/** One trimtab project and its language server. */
class Project {
    client: TrimtabLanguageClient | undefined;
    status: TrimtabStatus | undefined;
    phase: ClientPhase = "starting";
    launch: ServerLaunch | undefined;
    failure: string | undefined;
    private starting: Promise<void> | undefined;
    private readonly disposables: vscode.Disposable[] = [];

    constructor(
        readonly manager: Manager,
        readonly folder: vscode.WorkspaceFolder,
        readonly root: vscode.Uri,
    ) {}

    get name(): string {
        const rel = path.relative(this.folder.uri.fsPath, this.root.fsPath);
        return rel ? `${this.folder.name}/${rel.split(path.sep).join("/")}` : this.folder.name;
    }

    /** The schema files, as the server last reported them. */
    schemaFiles(): string[] {
        return (this.status?.documents ?? []).map((d) => vscode.Uri.parse(d.uri).fsPath);
    }

    /** The first argument of a server command: the schema file, else the project folder. */
    commandUri(preferred?: vscode.Uri): string {
        if (preferred && preferred.scheme === "file" && isInside(preferred.fsPath, this.root.fsPath)) {
            return preferred.toString();
        }
        return this.status?.documents[0]?.uri ?? this.root.toString();
    }

    async serverSettings() {
        const secret = await this.manager.context.secrets.get(secretKey(this.folder.uri.toString()));
        return toServerSettings(config(this.folder), secret);
    }

    start(): Promise<void> {
        this.starting ??= this.doStart().finally(() => { this.starting = undefined; });
        return this.starting;
    }

    private async doStart(): Promise<void> {
        this.phase = "starting";
        this.status = undefined;
        this.manager.refreshViews();
        const trusted = vscode.workspace.isTrusted;
        const candidates = await this.candidates(trusted);
        const cwd = serverCwd(this.root.fsPath, trusted, this.manager.context.extensionUri.fsPath);
        const tried: Array<{ launch: ServerLaunch; result: ProbeResult }> = [];
        let launch: ServerLaunch | undefined;
        for (const candidate of candidates) {
            const result = await probe(candidate, cwd);
            tried.push({ launch: candidate, result });
            this.manager.log(`${candidate.command} ${candidate.args.join(" ")} (${candidate.source}): ${result.ok ? `trimtab ${result.version}` : `${result.reason}: ${result.detail}`}`);
            if (result.ok) {
                launch = candidate;
                break;
            }
        }
        if (!launch) {
            this.phase = "not-installed";
            this.failure = describeFailure(tried) + (trusted ? "" : " The workspace is not trusted: "
                + "its own trimtab.python and trimtab.server.path settings and interpreters inside it are not used.");
            this.manager.refreshViews();
            void this.manager.explainFailure(this);
            return;
        }
        this.launch = launch;
        this.failure = undefined;
        const initial = await this.serverSettings();
        let current = initial;
        const client = createClient({
            id: SECTION,
            name: this.name,
            root: this.root,
            launch,
            cwd,
            outputChannel: this.manager.output,
            // Read at each (re)start: a server restarted after a crash gets today's trust.
            initializationOptions: () => ({ ...current, trusted: vscode.workspace.isTrusted }),
            middleware: this.middleware(async () => (current = await this.serverSettings())),
            drizzle: await exists(vscode.Uri.joinPath(this.root, "drizzle.config.ts")),
        });
        this.client = client;
        this.disposables.push(
            // The server's questions (consent to lose data, to drift from the migrations) as
            // a modal with the whole plan, not a corner toast that shows one line.
            client.onRequest(ShowMessageRequest.type, (params) => askModal(params, this.manager.consent)),
            client.onNotification("trimtab/status", (params: unknown) => {
                const status = parseStatus(params);
                if (status) {
                    this.status = status;
                    this.manager.onStatus(this);
                }
            }),
            client.onDidChangeState((e) => {
                // After a crash the client restarts the server by itself (a few times).
                if (this.client !== client || this.phase === "starting") {
                    return;
                }
                this.phase = e.newState === State.Stopped ? "stopped" : "running";
                this.manager.refreshViews();
            }),
        );
        try {
            await client.start();
        } catch (err) {
            this.phase = "stopped";
            this.failure = `trimtab: the language server did not start: ${err instanceof Error ? err.message : String(err)}`;
            this.manager.refreshViews();
            void vscode.window.showErrorMessage(this.failure, "Show Output").then((choice) => {
                if (choice) {
                    this.manager.output.show(true);
                }
            });
            return;
        }
        this.phase = "running";
        for (const command of client.serverCommands()) {
            this.manager.ensureServerCommand(command);
        }
        this.manager.refreshViews();
    }

    /** The launches to try, for the workspace's trust now. */
    private async candidates(trusted: boolean): Promise<ServerLaunch[]> {
        const settings = interpreterSettings(config(this.folder));
        const ctx = {
            folder: this.folder.uri.fsPath,
            home: os.homedir(),
            env: process.env,
            platform: process.platform,
            trusted,
            pythonExtension: !trusted || settings.serverPath || settings.python ? undefined
                : await selectedInterpreter(this.folder.uri),
        };
        const skipped = skippedUntrusted(settings, ctx);
        if (skipped) {
            this.manager.log(skipped);
        }
        return serverCandidates(settings, ctx);
    }

    /** The user trusted the workspace: the running server is told (it starts comparing
     * with the database), unless trust changes which interpreter runs it: then a restart. */
    async trustGranted(): Promise<void> {
        await this.starting;
        const client = this.client;
        const [first] = await this.candidates(true);
        if (!client?.isRunning() || !sameLaunch(first, this.launch)) {
            this.manager.log(`workspace trusted: restarting ${this.name}`);
            await this.restart();
            return;
        }
        await client.sendNotification(TRUST_NOTIFICATION, { trusted: true });
    }

    private middleware(freshSettings: () => Promise<unknown>): Middleware {
        return {
            workspace: {
                configuration: async (params, token, next) => {
                    const settings = await freshSettings();
                    const rest = await next(params, token);
                    if (rest instanceof Error || !Array.isArray(rest)) {
                        return rest;
                    }
                    // The secret is added here, never to settings.json.
                    return params.items.map((item, i) => item.section === SECTION ? settings : rest[i]);
                },
            },
            handleDiagnostics: (uri, diagnostics, next) => {
                const overrides = toServerSettings(config(this.folder)).diagnostics.severity;
                next(uri, applySeverities(diagnostics, overrides));
            },
        };
    }

    /** Tell the server that its settings changed: it asks for them (through the middleware). */
    async settingsChanged(): Promise<void> {
        if (this.client?.isRunning()) {
            await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
        }
    }

    private studio: { process: ChildProcess; started: Promise<void>; links: Array<(url: string) => void> } | undefined;

    /** A link to the project's `trimtab studio` (started once, kept while the project is
     * open). Each link opens it once, so every call asks the running studio for a new one. */
    openStudio(): Promise<string> {
        const running = this.studio;
        if (running && running.process.exitCode === null) {
            return running.started.then(() => this.nextLink(running, true));
        }
        const launch = this.launch;
        if (!launch) {
            return Promise.reject(new Error("the trimtab server has not started for this project"));
        }
        return this.serverSettings().then((settings) => {
            const run = studioSpawn(launch, settings, process.env);
            const child = spawn(run.command, run.args, {
                cwd: this.root.fsPath, env: { ...process.env, ...run.env }, windowsHide: true,
            });
            const studio: { process: ChildProcess; started: Promise<void>; links: Array<(url: string) => void> } = {
                process: child, started: Promise.resolve(), links: [] };
            this.studio = studio;
            const first = this.nextLink(studio, false);
            studio.started = first.then(() => undefined);
            let buffered = "";
            child.stdout?.on("data", (chunk: Buffer) => {
                buffered += chunk.toString();
                const lines = buffered.split("\n");
                buffered = lines.pop() ?? "";
                for (const line of lines) {
                    const found = studioUrl(line);
                    if (found) {
                        studio.links.shift()?.(found);
                    }
                }
            });
            child.stderr?.on("data", (chunk: Buffer) => this.manager.log(`studio: ${chunk.toString().trimEnd()}`));
            return first;
        });
    }

    /** The next link the studio prints (asking it for one with `ask`). */
    private nextLink(studio: { process: ChildProcess; links: Array<(url: string) => void> }, ask: boolean): Promise<string> {
        return new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("trimtab studio did not answer in 60 s")), 60_000);
            const exited = (code: number | null) => {
                clearTimeout(timer);
                reject(new Error(`trimtab studio exited (${code ?? "signal"}); see the output`));
            };
            studio.process.once("exit", exited);
            studio.links.push((url) => {
                clearTimeout(timer);
                studio.process.off("exit", exited);
                resolve(url);
            });
            if (ask) {
                studio.process.stdin?.write(NEW_LINK_REQUEST);
            }
        });
    }

    stopStudio(): void {
        this.studio?.process.kill();
        this.studio = undefined;
    }

    async stop(): Promise<void> {
        this.stopStudio();
        const client = this.client;
        this.client = undefined;
        this.disposables.splice(0).forEach((d) => d.dispose());
        if (client) {
            try {
                await client.stop(5000);
            } catch {
                // already stopped
            }
        }
        this.phase = "stopped";
    }

    async restart(): Promise<void> {
        await this.starting;
        await this.stop();
        await this.start();
    }
}

const SEVERITY: Record<Exclude<SeverityName, "off">, vscode.DiagnosticSeverity> = {
    error: vscode.DiagnosticSeverity.Error,
    warning: vscode.DiagnosticSeverity.Warning,
    information: vscode.DiagnosticSeverity.Information,
    hint: vscode.DiagnosticSeverity.Hint,
};

/** `trimtab.diagnostics.severity`, applied on the client as well (`off` hides a code). */
function applySeverities(diagnostics: vscode.Diagnostic[], overrides: Record<string, SeverityName>): vscode.Diagnostic[] {
    if (!Object.keys(overrides).length) {
        return diagnostics;
    }
    const out: vscode.Diagnostic[] = [];
    for (const d of diagnostics) {
        const wanted = d.source === "trimtab" ? severityFor(d.code, overrides) : undefined;
        if (wanted === "off") {
            continue;
        }
        if (wanted) {
            d.severity = SEVERITY[wanted];
        }
        out.push(d);
    }
    return out;
}

/** The pending plan as a read-only SQL document, refreshed after each analysis. */
/** The plan a consent question carries, as a read-only SQL document ("Show SQL"). */
class ConsentDocuments implements vscode.TextDocumentContentProvider {
    private readonly texts = new Map<string, string>();
    private next = 0;

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.texts.get(uri.path) ?? "-- trimtab: this plan was answered and is gone\n";
    }

    async show(sql: string): Promise<void> {
        const uri = vscode.Uri.from({ scheme: CONSENT_SCHEME, path: `/plan ${++this.next}.sql` });
        this.texts.set(uri.path, sql);
        const doc = await vscode.workspace.openTextDocument(uri);
        await vscode.window.showTextDocument(doc, { preview: true, preserveFocus: false });
    }
}

async function askModal(params: ShowMessageRequestParams, docs: ConsentDocuments): Promise<MessageActionItem | null> {
    const actions = (params.actions ?? []).map((a) => a.title);
    const d = consentDialog(params.message, actions);
    for (;;) {
        const choice = await vscode.window.showWarningMessage(d.message, { modal: true, detail: d.detail }, ...d.buttons);
        if (choice === SHOW_SQL && d.sql !== undefined) {
            await docs.show(d.sql); // then ask again: the answer is still the server's to get
            continue;
        }
        return answerFor(choice, actions);
    }
}

class PlanDocuments implements vscode.TextDocumentContentProvider {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;

    constructor(private readonly manager: Manager) {}

    static uriFor(project: Project): vscode.Uri {
        return vscode.Uri.from({
            scheme: PLAN_SCHEME,
            path: `/${project.name.replace(/[\\/]/g, "-")} pending.sql`,
            query: project.root.toString(),
        });
    }

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        const project = this.manager.projects.get(vscode.Uri.parse(uri.query).fsPath);
        if (!project) {
            return "-- trimtab: this project is not open any more\n";
        }
        if (!project.client?.isRunning()) {
            return `-- trimtab: the language server is not running${project.failure ? `\n-- ${project.failure}` : ""}\n`;
        }
        try {
            const result = await project.client.sendRequest(ExecuteCommandRequest.type, {
                command: "trimtab.showPlan",
                arguments: [project.commandUri()],
            }) as { text?: unknown } | null;
            return typeof result?.text === "string" ? result.text
                : `-- trimtab: ${commandError(result) ?? "no plan"}\n`;
        } catch (err) {
            return `-- trimtab: the plan could not be computed: ${err instanceof Error ? err.message : String(err)}\n`;
        }
    }

    refresh(project: Project): void {
        const target = PlanDocuments.uriFor(project).toString();
        for (const doc of vscode.workspace.textDocuments) {
            if (doc.uri.toString() === target) {
                this.changed.fire(doc.uri);
            }
        }
    }

    async show(project: Project, beside: vscode.ViewColumn | undefined): Promise<void> {
        const uri = PlanDocuments.uriFor(project);
        const doc = await vscode.workspace.openTextDocument(uri);
        if (!(SQL_LANGUAGES as readonly string[]).includes(doc.languageId)) {
            await vscode.languages.setTextDocumentLanguage(doc, "postgres");
        }
        this.refresh(project);
        await vscode.window.showTextDocument(doc, {
            viewColumn: beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active,
            preview: false,
            preserveFocus: true,
        });
    }
}

/** "N pending changes · Push · Generate migration" above each schema file. */
class SchemaLenses implements vscode.CodeLensProvider {
    private readonly changed = new vscode.EventEmitter<void>();
    readonly onDidChangeCodeLenses = this.changed.event;

    constructor(private readonly manager: Manager) {}

    refresh(): void {
        this.changed.fire();
    }

    provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
        const project = this.manager.projectFor(doc.uri);
        if (!project || !project.schemaFiles().includes(doc.uri.fsPath)
            || !vscode.workspace.getConfiguration(SECTION, doc.uri).get<boolean>("codeLens.enabled", true)) {
            return [];
        }
        const range = new vscode.Range(0, 0, 0, 0);
        const arg = [doc.uri];
        const status = project.status;
        if (!vscode.workspace.isTrusted) {  // push and generate are disabled: no lenses for them
            return [new vscode.CodeLens(range, { title: codeLensSummary(status), command: "workbench.trust.manage" })];
        }
        const summary = status?.state === "unreachable"
            ? { title: codeLensSummary(status), command: "trimtab.refreshDatabase", arguments: arg }
            : { title: codeLensSummary(status), command: "trimtab.showPendingSql", arguments: arg };
        return [
            new vscode.CodeLens(range, summary),
            new vscode.CodeLens(range, { title: "Push", command: "trimtab.pushSchema", arguments: arg }),
            new vscode.CodeLens(range, { title: "Generate migration", command: "trimtab.generateMigration", arguments: arg }),
        ];
    }
}

class Manager implements vscode.Disposable {
    readonly projects = new Map<string, Project>();
    readonly output = vscode.window.createOutputChannel("trimtab", { log: true });
    private readonly statusItem = vscode.window.createStatusBarItem("trimtab.status", vscode.StatusBarAlignment.Left, 10);
    readonly plans = new PlanDocuments(this);
    readonly consent = new ConsentDocuments();
    readonly lenses = new SchemaLenses(this);
    private readonly registered = new Set<string>();
    private readonly explained = new Set<string>();
    private lastShown: Project | undefined;
    private scanning: Promise<void> = Promise.resolve();

    constructor(readonly context: vscode.ExtensionContext) {
        this.statusItem.name = "trimtab";
        this.statusItem.command = "trimtab.showPendingSql";
    }

    log(line: string): void {
        this.output.info(line);
    }

    dispose(): void {
        this.statusItem.dispose();
        this.output.dispose();
    }

    // -- projects ------------------------------------------------------------------------------

    /** Finds the projects: each workspace folder that is one (trimtab.toml, [tool.trimtab],
     * or `trimtab.schema` set), and folders below that hold an open .sql file's project. */
    rescan(): Promise<void> {
        this.scanning = this.scanning.then(() => this.doRescan()).catch((err) => this.log(`scan failed: ${String(err)}`));
        return this.scanning;
    }

    private async doRescan(): Promise<void> {
        const wanted = new Map<string, { folder: vscode.WorkspaceFolder; root: vscode.Uri }>();
        for (const folder of vscode.workspace.workspaceFolders ?? []) {
            if (folder.uri.scheme !== "file") {
                continue;
            }
            if (config(folder).schema || await isProjectDir(folder.uri)) {
                wanted.set(folder.uri.fsPath, { folder, root: folder.uri });
            }
        }
        for (const doc of vscode.workspace.textDocuments) {
            const found = await this.nestedProjectOf(doc);
            if (found) {
                wanted.set(found.root.fsPath, found);
            }
        }
        for (const p of this.projects.values()) {
            if (!wanted.has(p.root.fsPath) && !(await this.stillProject(p))) {
                this.projects.delete(p.root.fsPath);
                await p.stop();
            }
        }
        for (const [key, w] of wanted) {
            if (!this.projects.has(key)) {
                const project = new Project(this, w.folder, w.root);
                this.projects.set(key, project);
                void project.start();
            }
        }
        void vscode.commands.executeCommand("setContext", "trimtab.active", this.projects.size > 0);
        this.refreshViews();
    }

    private async stillProject(p: Project): Promise<boolean> {
        const folder = vscode.workspace.getWorkspaceFolder(p.root);
        return !!folder && folder.uri.toString() === p.folder.uri.toString()
            && (await isProjectDir(p.root) || (p.root.fsPath === folder.uri.fsPath && !!config(folder).schema));
    }

    /** The project of a .sql file below a workspace folder: the nearest folder upwards that
     * holds trimtab.toml or [tool.trimtab] (as the command line finds it). */
    private async nestedProjectOf(doc: vscode.TextDocument) {
        if (doc.uri.scheme !== "file" || !doc.uri.fsPath.toLowerCase().endsWith(".sql")) {
            return undefined;
        }
        const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
        if (!folder || folder.uri.scheme !== "file") {
            return undefined;
        }
        let dir = path.dirname(doc.uri.fsPath);
        while (isInside(dir, folder.uri.fsPath)) {
            if (this.projects.has(dir)) {
                return { folder, root: this.projects.get(dir)!.root };
            }
            if (await isProjectDir(vscode.Uri.file(dir))) {
                return { folder, root: vscode.Uri.file(dir) };
            }
            if (dir === folder.uri.fsPath) {
                break;
            }
            dir = path.dirname(dir);
        }
        return undefined;
    }

    async onDocumentOpened(doc: vscode.TextDocument): Promise<void> {
        if (doc.uri.scheme === "file" && doc.uri.fsPath.toLowerCase().endsWith(".sql") && !this.projectFor(doc.uri)) {
            if (await this.nestedProjectOf(doc)) {
                await this.rescan();
            }
        }
    }

    projectFor(uri: vscode.Uri | undefined): Project | undefined {
        if (!uri) {
            return undefined;
        }
        if (uri.scheme === PLAN_SCHEME) {
            return this.projects.get(vscode.Uri.parse(uri.query).fsPath);
        }
        if (uri.scheme !== "file") {
            return undefined;
        }
        let best: Project | undefined;
        for (const p of this.projects.values()) {
            if (isInside(uri.fsPath, p.root.fsPath) && (!best || p.root.fsPath.length > best.root.fsPath.length)) {
                best = p;
            }
        }
        return best;
    }

    /** The project a command is about: its argument's, the active editor's, the only one, or
     * the user's pick. */
    async pickProject(arg?: unknown): Promise<Project | undefined> {
        const uri = toUri(arg) ?? vscode.window.activeTextEditor?.document.uri;
        const fromUri = this.projectFor(uri);
        if (fromUri) {
            return fromUri;
        }
        if (this.projects.size === 0) {
            await this.discoverNested();
        }
        const all = [...this.projects.values()];
        if (all.length <= 1) {
            if (!all.length) {
                void vscode.window.showWarningMessage("trimtab: no trimtab project in this workspace (a folder with trimtab.toml, [tool.trimtab] in pyproject.toml, or drizzle.config.ts).");
            }
            return all[0];
        }
        const picked = await vscode.window.showQuickPick(
            all.map((p) => ({ label: p.name, description: p.root.fsPath, project: p })),
            { placeHolder: "Which trimtab project?" });
        return picked?.project;
    }

    /** With no project at a folder's top, start those found below it (at most 10). */
    private async discoverNested(): Promise<void> {
        const files = await vscode.workspace.findFiles("**/{trimtab.toml,pyproject.toml,drizzle.config.ts}", EXCLUDE, 50);
        let added = 0;
        for (const file of files) {
            const dir = vscode.Uri.file(path.dirname(file.fsPath));
            const folder = vscode.workspace.getWorkspaceFolder(file);
            if (folder && !this.projects.has(dir.fsPath) && added < 10 && await isProjectDir(dir)) {
                const project = new Project(this, folder, dir);
                this.projects.set(dir.fsPath, project);
                added++;
                void project.start();
            }
        }
        await vscode.commands.executeCommand("setContext", "trimtab.active", this.projects.size > 0);
        await Promise.all([...this.projects.values()].map((p) => p.start()));
    }

    async stopAll(): Promise<void> {
        await Promise.all([...this.projects.values()].map((p) => p.stop()));
    }

    // -- views -----------------------------------------------------------------------------------

    onStatus(project: Project): void {
        this.plans.refresh(project);
        this.refreshViews();
    }

    refreshViews(): void {
        this.lenses.refresh();
        void vscode.commands.executeCommand("setContext", "trimtab.schemaFiles",
            [...this.projects.values()].flatMap((p) => p.schemaFiles()));
        const project = this.projectFor(vscode.window.activeTextEditor?.document.uri)
            ?? (this.lastShown && this.projects.has(this.lastShown.root.fsPath) ? this.lastShown : undefined)
            ?? (this.projects.size === 1 ? [...this.projects.values()][0] : undefined);
        if (!project) {
            this.statusItem.hide();
            return;
        }
        this.lastShown = project;
        const view = statusView(project.status, project.phase, this.projects.size > 1 ? project.name : undefined);
        this.statusItem.text = view.text;
        this.statusItem.tooltip = view.tooltip;
        this.statusItem.backgroundColor = view.tone === "normal" ? undefined
            : new vscode.ThemeColor(view.tone === "error" ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground");
        this.statusItem.command = project.phase === "not-installed"
            ? { title: "Why", command: "trimtab.explainNotInstalled", arguments: [project.root.fsPath] }
            : project.phase === "stopped" ? "trimtab.showOutput"
                : project.status?.state === "untrusted" ? "workbench.trust.manage"
                : { title: "Show pending SQL", command: "trimtab.showPendingSql", arguments: [project.root] };
        this.statusItem.show();
    }

    /** The plain "trimtab is not installed" message, with its two ways out. */
    async explainFailure(project: Project, again = false): Promise<void> {
        const key = project.folder.uri.toString();
        if (!again && this.explained.has(key)) {
            return;
        }
        this.explained.add(key);
        const choice = await vscode.window.showErrorMessage(
            project.failure ?? "trimtab: the language server cannot start.", "Open Settings", "Install instructions");
        if (choice === "Open Settings") {
            await vscode.commands.executeCommand("workbench.action.openSettings", "trimtab.python");
        } else if (choice === "Install instructions") {
            // vsce stores the README as readme.md; a development checkout has README.md.
            const candidates = ["README.md", "readme.md"].map((f) => vscode.Uri.joinPath(this.context.extensionUri, f));
            let readme = candidates[0]!;
            for (const c of candidates) {
                if (await exists(c)) {
                    readme = c;
                    break;
                }
            }
            await vscode.commands.executeCommand("markdown.showPreview", readme);
        }
    }

    // -- commands ----------------------------------------------------------------------------------

    /** Registers a server command id once; it runs on the project of its first argument. */
    ensureServerCommand(command: string): void {
        if (this.registered.has(command)) {
            return;
        }
        this.registered.add(command);
        this.context.subscriptions.push(vscode.commands.registerCommand(command,
            (...args: unknown[]) => this.runServerCommand(command, args)));
    }

    async runServerCommand(command: string, args: unknown[]): Promise<unknown> {
        const project = await this.pickProject(args[0]);
        if (!project) {
            return undefined;
        }
        const uri = project.commandUri(toUri(args[0]));
        if (command === "trimtab.showPlan") {
            await this.plans.show(project, vscode.ViewColumn.Beside);
            return undefined;
        }
        if (WRITE_COMMANDS.includes(command) && !vscode.workspace.isTrusted) {
            await explainUntrusted(command.replace("trimtab.", ""));
            return undefined;
        }
        let rest = args.slice(1);
        if (command === "trimtab.generate" && rest.length === 0) {
            const name = await vscode.window.showInputBox({
                title: "trimtab: Generate Migration",
                prompt: "Name of the migration (letters, digits, _ and -). Leave empty to name it after what changed.",
                placeHolder: "derived from the changes",
                validateInput: (v) => /^[\w-]*$/.test(v.trim()) ? undefined : "Use letters, digits, _ and - only",
            });
            if (name === undefined) {
                return undefined; // Escape: cancelled
            }
            rest = name.trim() ? [name.trim()] : [];
        }
        if (["trimtab.push", "trimtab.generate"].includes(command)) {
            await saveSchemaFiles(project);
        }
        if (!project.client?.isRunning()) {
            await project.start();
        }
        const client = project.client;
        if (!client?.isRunning()) {
            await this.explainFailure(project, true);
            return undefined;
        }
        try {
            return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [uri, ...rest] });
        } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            void vscode.window.showErrorMessage(`trimtab: ${command.replace("trimtab.", "")} failed: ${message}`);
            return undefined;
        }
    }

    async setDatabaseUrl(): Promise<void> {
        const folder = await pickFolder(this);
        if (!folder) {
            return;
        }
        const url = await vscode.window.showInputBox({
            title: `trimtab: Database URL for ${folder.name}`,
            prompt: "Stored in VS Code's secret storage for this folder, never in settings.json.",
            placeHolder: "postgresql://user:password@localhost:5432/app",
            password: true,
            ignoreFocusOut: true,
            validateInput: validateDatabaseUrl,
        });
        if (url === undefined) {
            return;
        }
        await this.context.secrets.store(secretKey(folder.uri.toString()), url.trim());
        void vscode.window.showInformationMessage(`trimtab: the database URL for ${folder.name} is stored securely (${redactUrl(url.trim())}).`);
    }

    async clearDatabaseUrl(): Promise<void> {
        const folder = await pickFolder(this);
        if (!folder) {
            return;
        }
        await this.context.secrets.delete(secretKey(folder.uri.toString()));
        void vscode.window.showInformationMessage(`trimtab: the stored database URL for ${folder.name} is cleared.`);
    }

    /** A password typed into settings.json is offered a move to secret storage, once. */
    async checkPasswordInSettings(): Promise<void> {
        for (const folder of vscode.workspace.workspaceFolders ?? []) {
            const c = vscode.workspace.getConfiguration(SECTION, folder);
            const url = c.get<string>("databaseUrl", "");
            if (!url || !urlHasPassword(url)) {
                continue;
            }
            const choice = await vscode.window.showWarningMessage(
                `trimtab: the setting trimtab.databaseUrl for ${folder.name} contains a password. Move it to VS Code's secret storage?`,
                "Move to secure storage", "Leave it");
            if (choice !== "Move to secure storage") {
                return;
            }
            await this.context.secrets.store(secretKey(folder.uri.toString()), url);
            const info = c.inspect<string>("databaseUrl");
            for (const [value, target] of [
                [info?.workspaceFolderValue, vscode.ConfigurationTarget.WorkspaceFolder],
                [info?.workspaceValue, vscode.ConfigurationTarget.Workspace],
                [info?.globalValue, vscode.ConfigurationTarget.Global],
            ] as const) {
                if (value) {
                    await c.update("databaseUrl", undefined, target);
                }
            }
        }
    }
}

/** Why a command is disabled in an untrusted workspace, with the way to trust it. */
async function explainUntrusted(what: string): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
        `trimtab: ${what} is disabled: this workspace is not trusted. trimtab checks the schema's structure only; it connects to no database and runs nothing from the folder.`,
        "Manage Workspace Trust");
    if (choice) {
        await vscode.commands.executeCommand("workbench.trust.manage");
    }
}

function toUri(arg: unknown): vscode.Uri | undefined {
    if (arg instanceof vscode.Uri) {
        return arg;
    }
    if (typeof arg === "string" && arg) {
        return /^[a-z][a-z0-9+.-]*:/i.test(arg) && !/^[a-z]:[\\/]/i.test(arg) ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
    }
    return undefined;
}

async function pickFolder(manager: Manager): Promise<vscode.WorkspaceFolder | undefined> {
    const active = manager.projectFor(vscode.window.activeTextEditor?.document.uri);
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length <= 1) {
        return folders[0];
    }
    if (active) {
        return active.folder;
    }
    return vscode.window.showWorkspaceFolderPick({ placeHolder: "Database URL of which folder?" });
}

/** Push and generate read the saved files: save the project's edited schema files first. */
async function saveSchemaFiles(project: Project): Promise<void> {
    const files = new Set(project.schemaFiles());
    for (const doc of vscode.workspace.textDocuments) {
        if (doc.isDirty && doc.uri.scheme === "file" && files.has(doc.uri.fsPath)) {
            await doc.save();
        }
    }
}

let manager: Manager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const m = new Manager(context);
    manager = m;
    context.subscriptions.push(m);
    const run = (command: string) => (arg?: unknown) => m.runServerCommand(command, arg === undefined ? [] : [arg]);
    for (const command of SERVER_COMMANDS) {
        m.ensureServerCommand(command);
    }
    context.subscriptions.push(
        vscode.workspace.registerTextDocumentContentProvider(PLAN_SCHEME, m.plans),
        vscode.workspace.registerTextDocumentContentProvider(CONSENT_SCHEME, m.consent),
        vscode.languages.registerCodeLensProvider([...SQL_LANGUAGES.map((language) => ({ scheme: "file", language })), { scheme: "file", pattern: "**/*.{sql,ts,mts}" }], m.lenses),
        vscode.commands.registerCommand("trimtab.pushSchema", run("trimtab.push")),
        vscode.commands.registerCommand("trimtab.generateMigration", run("trimtab.generate")),
        vscode.commands.registerCommand("trimtab.applyMigrations", run("trimtab.migrate")),
        vscode.commands.registerCommand("trimtab.refreshDatabase", run("trimtab.refresh")),
        vscode.commands.registerCommand("trimtab.showPendingSql", async (arg?: unknown) => {
            const project = await m.pickProject(arg);
            if (project) {
                await m.plans.show(project, vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : undefined);
            }
        }),
        vscode.commands.registerCommand("trimtab.showOutput", () => m.output.show(true)),
        vscode.commands.registerCommand("trimtab.openStudio", async (arg?: unknown) => {
            if (!vscode.workspace.isTrusted) {  // the studio connects to the project's database
                await explainUntrusted("the studio");
                return;
            }
            const project = await m.pickProject(arg);
            if (!project) {
                return;
            }
            try {
                const url = await vscode.window.withProgress(
                    { location: vscode.ProgressLocation.Window, title: "trimtab: starting the studio" },
                    () => project.openStudio());
                // In a browser (code-server, Codespaces) 127.0.0.1 is the user's machine, not
                // this one: asExternalUri gives the forwarded address (and forwards the port).
                await vscode.env.openExternal(await vscode.env.asExternalUri(vscode.Uri.parse(url)));
            } catch (e) {
                project.stopStudio();
                void vscode.window.showErrorMessage(`trimtab: ${e instanceof Error ? e.message : String(e)}`);
            }
        }),
        vscode.commands.registerCommand("trimtab.setDatabaseUrl", () => m.setDatabaseUrl()),
        vscode.commands.registerCommand("trimtab.clearDatabaseUrl", () => m.clearDatabaseUrl()),
        vscode.commands.registerCommand("trimtab.restartServer", async () => {
            await m.rescan();
            await Promise.all([...m.projects.values()].map((p) => p.restart()));
        }),
        vscode.commands.registerCommand("trimtab.explainNotInstalled", async (root?: string) => {
            const project = root ? m.projects.get(root) : await m.pickProject();
            if (project) {
                await m.explainFailure(project, true);
            }
        }),
        vscode.window.onDidChangeActiveTextEditor(() => m.refreshViews()),
        vscode.workspace.onDidGrantWorkspaceTrust(() => {
            for (const p of m.projects.values()) {
                void p.trustGranted();
            }
            m.refreshViews();
        }),
        vscode.workspace.onDidOpenTextDocument((doc) => m.onDocumentOpened(doc)),
        vscode.workspace.onDidChangeWorkspaceFolders(() => m.rescan()),
        vscode.workspace.onDidChangeConfiguration(async (e) => {
            if (e.affectsConfiguration(`${SECTION}.schema`)) {
                await m.rescan();
            }
            if (e.affectsConfiguration(`${SECTION}.databaseUrl`)) {
                void m.checkPasswordInSettings();
            }
            for (const p of m.projects.values()) {
                if (e.affectsConfiguration(`${SECTION}.python`, p.folder) || e.affectsConfiguration(`${SECTION}.server.path`, p.folder)) {
                    m.log(`interpreter settings changed: restarting ${p.name}`);
                    void p.restart();
                } else if (e.affectsConfiguration(SECTION, p.folder)) {
                    void p.settingsChanged();
                }
            }
            m.refreshViews();
        }),
        context.secrets.onDidChange((e) => {
            for (const p of m.projects.values()) {
                if (e.key === secretKey(p.folder.uri.toString())) {
                    void p.settingsChanged();
                }
            }
        }),
    );
    const watcher = vscode.workspace.createFileSystemWatcher("**/{trimtab.toml,pyproject.toml,drizzle.config.ts}");
    context.subscriptions.push(watcher, watcher.onDidCreate(() => m.rescan()),
        watcher.onDidChange(() => m.rescan()), watcher.onDidDelete(() => m.rescan()));
    const interpreterWatch = await onInterpreterChange(() => {
        for (const p of m.projects.values()) {
            const s = interpreterSettings(config(p.folder));
            if (!s.serverPath && !s.python) {
                void p.restart();
            }
        }
    });
    if (interpreterWatch) {
        context.subscriptions.push(interpreterWatch);
    }
    void m.checkPasswordInSettings();
    await m.rescan();
}

export async function deactivate(): Promise<void> {
    await manager?.stopAll();
    manager = undefined;
}
