// Bundles the extension (dist/extension.js) or, with --tests, the unit tests (out/test/).
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tests = process.argv.includes("--tests");
const common = { bundle: true, platform: "node", target: "node18", format: "cjs", logLevel: "warning" };

if (tests) {
    rmSync(join(root, "out"), { recursive: true, force: true });
    const entryPoints = readdirSync(join(root, "test"))
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => join(root, "test", f));
    // The tests cover the pure modules: bundling fails if one of them pulls in `vscode`.
    await build({ ...common, entryPoints, outdir: join(root, "out", "test"), sourcemap: "inline" });
} else {
    await build({
        ...common,
        entryPoints: [join(root, "src", "extension.ts")],
        outfile: join(root, "dist", "extension.js"),
        external: ["vscode"],
        minify: process.argv.includes("--minify") || process.env.NODE_ENV === "production",
        sourcemap: false,
    });
}
