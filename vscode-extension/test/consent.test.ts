import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { answerFor, consentDialog, SHOW_SQL } from "../src/consent";

// What `trimtab lsp` sends before a push that loses data (tests/test_lsp_ux.py holds the
// server to this shape).
const QUESTION = "trimtab: this push loses data: drops column public.users.email: 1 non-null value\n\n"
    + "-- drop column public.users.email\n"
    + "-- warning: drops column public.users.email: 1 non-null value\n"
    + "ALTER TABLE public.users DROP COLUMN email;\n";

describe("consentDialog", () => {
    it("headlines the question and puts the whole plan in the detail, with Show SQL", () => {
        const d = consentDialog(QUESTION, ["Apply", "Cancel"]);
        assert.equal(d.message, "trimtab: this push loses data: drops column public.users.email: 1 non-null value");
        assert.ok(d.detail?.includes("drop column public.users.email"));
        assert.ok(d.detail?.includes("ALTER TABLE public.users DROP COLUMN email;"));
        assert.deepEqual(d.buttons, ["Apply", SHOW_SQL]); // the modal has its own Cancel
        assert.ok(d.sql?.startsWith("-- drop column public.users.email\n"));
        assert.ok(d.sql?.includes("ALTER TABLE public.users DROP COLUMN email;\n"));
    });
    it("a question without a plan is a plain modal question", () => {
        const d = consentDialog("trimtab: this database has applied migrations. Push anyway?", ["Push", "Cancel"]);
        assert.equal(d.detail, undefined);
        assert.equal(d.sql, undefined);
        assert.deepEqual(d.buttons, ["Push"]);
    });
    it("never says --force", () => {
        const d = consentDialog(QUESTION, ["Apply", "Cancel"]);
        assert.ok(![d.message, d.detail, ...d.buttons].join("\n").includes("--force"));
    });
});

describe("answerFor", () => {
    it("maps the button to the server's action, and anything else to its Cancel", () => {
        assert.deepEqual(answerFor("Apply", ["Apply", "Cancel"]), { title: "Apply" });
        assert.deepEqual(answerFor(undefined, ["Apply", "Cancel"]), { title: "Cancel" });
        assert.deepEqual(answerFor(SHOW_SQL, ["Apply", "Cancel"]), { title: "Cancel" });
        assert.deepEqual(answerFor("Elsewhere", ["Apply", "Cancel"]), { title: "Cancel" });
        assert.equal(answerFor(undefined, ["OK"]), null);
    });
});
