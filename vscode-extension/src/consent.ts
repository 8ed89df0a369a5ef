// The server's questions (window/showMessageRequest) as a modal dialog. The server writes a
// one-line headline, then, after a blank line, the whole plan (changes, hazards, SQL): the
// headline is the dialog's message, the plan its detail, and "Show SQL" opens the plan in a
// read-only editor before answering. Pure: no `vscode` import, so node's test runner can
// exercise it.

export const SHOW_SQL = "Show SQL";
const CANCEL = "Cancel";

export interface ConsentDialog {
    message: string;
    /** The whole plan, shown under the message in the modal. */
    detail: string | undefined;
    /** The server's answers other than Cancel (a modal has its own), then "Show SQL". */
    buttons: string[];
    /** What "Show SQL" opens; undefined when the question carries no plan. */
    sql: string | undefined;
}

export function consentDialog(message: string, actions: readonly string[]): ConsentDialog {
    const at = message.indexOf("\n\n");
    const headline = (at < 0 ? message : message.slice(0, at)).trim();
    const plan = at < 0 ? "" : message.slice(at + 2).trim();
    const answers = actions.filter((a) => a !== CANCEL && a !== SHOW_SQL);
    return {
        message: headline,
        detail: plan ? readable(plan) : undefined,
        buttons: plan ? [...answers, SHOW_SQL] : answers,
        sql: plan ? `${plan}\n` : undefined,
    };
}

/** The plan as a dialog shows it: the comments' text without their `-- `, SQL as is. */
function readable(plan: string): string {
    return plan.split("\n").map((line) => line.replace(/^-- /, "")).join("\n");
}

/** The server's action for the button chosen: Escape, the modal's Cancel (undefined) and
 * anything not offered are the server's Cancel, or no answer when it offered none. */
export function answerFor(choice: string | undefined, actions: readonly string[]): { title: string } | null {
    if (choice !== undefined && choice !== SHOW_SQL && actions.includes(choice)) {
        return { title: choice };
    }
    return actions.includes(CANCEL) ? { title: CANCEL } : null;
}
