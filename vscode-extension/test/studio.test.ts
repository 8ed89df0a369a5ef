import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { studioSpawn, studioUrl } from "../src/studio";
import { toServerSettings } from "../src/settings";

const python = { kind: "python" as const, command: "/v/bin/python", args: ["-m", "trimtab", "lsp"], source: "setting" as never };

describe("studioSpawn", () => {
    it("runs the studio with the server's interpreter, the URL in the environment only", () => {
        const s = toServerSettings({ databaseUrl: "postgres://u:secret@db/app", schema: "db/schema.sql" });
        const spawn = studioSpawn(python, s, {});
        assert.deepEqual(spawn.args, ["-m", "trimtab", "studio", "--no-browser", "--schema", "db/schema.sql"]);
        assert.equal(spawn.command, "/v/bin/python");
        assert.ok(!spawn.args.join(" ").includes("secret"));
        assert.equal(spawn.env.DIRECT_DATABASE_URL, "postgres://u:secret@db/app");
    });
    it("takes the URL from the named environment variable, or leaves it to the project", () => {
        const s = toServerSettings({ databaseUrlEnv: "DEV_DB" });
        assert.equal(studioSpawn(python, s, { DEV_DB: "postgres://x/y" }).env.DATABASE_URL, "postgres://x/y");
        assert.deepEqual(studioSpawn(python, toServerSettings({}), {}).env, {});
        const exe = { ...python, kind: "executable" as const, command: "/usr/bin/trimtab" };
        assert.deepEqual(studioSpawn(exe, toServerSettings({}), {}).args, ["studio", "--no-browser"]);
    });
});

describe("studioUrl", () => {
    it("reads the line the studio prints, and nothing else", () => {
        assert.equal(studioUrl("studio: http://127.0.0.1:8123/?code=abc_DEF-1\n"),
            "http://127.0.0.1:8123/?code=abc_DEF-1");
        assert.equal(studioUrl("database: postgres://..."), undefined);
        assert.equal(studioUrl("studio: http://evil.example:80/?code=x"), undefined);
        assert.equal(studioUrl("studio: http://127.0.0.1:8123/?token=abc"), undefined);
    });
});
