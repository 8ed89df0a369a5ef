"""`trimtab studio` end to end: the real command, driven in Debian's headless Chromium by
playwright-core. Open a table, filter it, edit a cell (and see the database change),
follow a foreign key and come back by the rows that reference it, see an error from
PostgreSQL next to its field, the structure, trimtab's pending changes, and read-only mode.

It installs what it needs: Debian's ``chromium`` (apt) when missing, and ``playwright-core``
from npm into ``${XDG_CACHE_HOME:-~/.cache}/trimtab-studio-e2e``. It is skipped, saying
why, only when that cannot be done (no npm, no apt). Screenshots go to a temporary folder,
or to ``$TRIMTAB_STUDIO_SCREENSHOTS`` when set (``docs/images`` for the documentation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SqlRunner
from trimtab import engine
from trimtab.config import load_config

pytestmark = pytest.mark.slow  # a real browser: `pytest -m slow`, and CI, run it

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "fixtures" / "quickstart" / "schema.sql"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trimtab-studio-e2e"
PLAYWRIGHT = "playwright-core@1"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-quic", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]

SEED = """
ALTER TABLE customers ADD COLUMN legacy_code text;
INSERT INTO customers (email, name, legacy_code)
SELECT lower(first) || '.' || lower(last) || i || '@example.org', first || ' ' || last,
       'L' || (1000 + i)
FROM generate_series(1, 40) AS i,
     LATERAL (SELECT (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances',
                            'Ken'])[i % 8 + 1] AS first,
                     (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth',
                            'Allen', 'Thompson', 'Ritchie'])[i % 9 + 1] AS last) AS n;
INSERT INTO products (sku, title, price_cents, tags)
SELECT 'SKU-' || lpad(i::text, 4, '0'),
       (ARRAY['Trim tab', 'Rudder', 'Keel', 'Mainsail', 'Jib', 'Tiller'])[i % 6 + 1] || ' ' || i,
       500 + i * 275, ARRAY['boat', (ARRAY['sail', 'hull', 'rig'])[i % 3 + 1]]
FROM generate_series(1, 12) AS i;
INSERT INTO orders (customer_id, status, placed_at, note)
SELECT i % 40 + 1, (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[i % 4 + 1]::order_status,
       timestamptz '2026-03-01 09:00+00' + i * interval '7 hours',
       CASE WHEN i % 3 = 0 THEN 'leave at the door' END
FROM generate_series(1, 180) AS i;
INSERT INTO order_items (order_id, product_id, quantity, price_cents)
SELECT o.id, p.id, 1 + (o.id + p.id) % 3, p.price_cents
FROM orders o JOIN products p ON (o.id + p.id) % 5 = 0;
ANALYZE;
"""

# The schema file wants orders.shipped_at, and does not have customers.legacy_code (data).
SCHEMA_FILE = QUICKSTART.read_text().replace(
    "    note        text\n", "    note        text,\n    shipped_at  timestamptz\n")

DRIVER = r"""
const { chromium } = require(process.env.PLAYWRIGHT_MODULE);
const shots = process.env.SHOTS;
const log = (o) => console.log(JSON.stringify(o));

let current = null;  // the page in use, for a screenshot when a step fails
async function main() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM,
    args: JSON.parse(process.env.CHROMIUM_FLAGS) });
  const page = await browser.newPage({ viewport: { width: 1360, height: 780 } });
  page.setDefaultTimeout(30000);
  current = page;
  page.on("pageerror", (e) => log({ event: "pageerror", message: String(e) }));
  page.on("console", (m) => {
    if (m.type() === "error") log({ event: "console-error", text: m.text() });
  });
  // Screenshots wait for the last notification to fade, so that they show the page.
  const shot = async (name) => {
    if (await page.$("#toast.show")) {
      await page.waitForFunction(() => !document.querySelector("#toast.show"));
      await page.waitForTimeout(300);  // its fade-out
    }
    await page.screenshot({ path: `${shots}/${name}` });
  };
  const texts = (sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent));
  const column = (name) => `#grid tbody td[data-column="${name}"]`;
  const whereIs = (pattern) => page.waitForFunction(
    (p) => new RegExp(p).test(document.querySelector("#page-where").textContent), pattern);

  // Open the printed link: its one-time code becomes a cookie and leaves the address bar.
  await page.goto(process.env.STUDIO_URL);
  await page.waitForSelector('.rel-link[data-name="orders"]');
  log({ step: "open", url: page.url(), title: await page.title(),
        badge: await page.textContent("#mode-badge") });

  // A table.
  await page.click('.rel-link[data-name="orders"]');
  await page.waitForSelector("#grid tbody tr");
  await whereIs("of \\d");
  log({ step: "table", rows: await page.locator("#grid tbody tr").count(),
        where: await page.textContent("#page-where") });
  await shot("studio-table.png");

  // Next page, and back.
  await page.click("#page-next");
  await whereIs("^rows 51");
  const second = await texts(column("id"));
  await page.click("#page-prev");
  await whereIs("^rows 1–");
  const backFirst = (await texts(column("id")))[0];
  await page.fill("#page-number", "3");
  await page.press("#page-number", "Enter");
  await whereIs("^rows 101–150");
  const third = await texts(column("id"));
  await page.click("#page-next");
  await whereIs("^rows 151–180");
  log({ step: "paging", second_first: second[0], back_first: backFirst, third_first: third[0],
        fourth_first: (await texts(column("id")))[0],
        next_disabled: await page.isDisabled("#page-next") });

  // Filter: status = paid.
  await page.click("#filter-add");
  await page.selectOption(".filter-row .f-col", "status");
  await page.selectOption(".filter-row .f-op", "eq");
  await page.selectOption(".filter-row select.f-value", "paid");
  await page.click("#filter-apply");
  await page.waitForFunction((sel) => location.hash.includes("f=") &&
    [...document.querySelectorAll(sel)].every((td) => td.textContent === "paid"), column("status"));
  await whereIs("of \\d");
  const statuses = await texts(column("status"));
  log({ step: "filter", statuses: [...new Set(statuses)], rows: statuses.length,
        where: await page.textContent("#page-where") });
  await shot("studio-filter.png");

  // Edit a cell: the first row's note.
  const row = page.locator("#grid tbody tr").first();
  const key = await row.getAttribute("data-key");
  await row.locator('td[data-column="note"]').dblclick();
  await page.waitForSelector("#cell-editor");
  const nullBox = "#cell-editor .set-null";
  if (await page.isChecked(nullBox)) await page.uncheck(nullBox);
  await page.fill("#cell-editor .value", "called the customer: ring twice");
  await shot("studio-edit.png");
  await page.click("#cell-save");
  await page.waitForSelector("#cell-editor", { state: "detached" });
  const edited = page.locator(`#grid tbody tr[data-key='${key}']`);
  await page.waitForFunction((k) => {
    const tr = document.querySelector(`#grid tbody tr[data-key='${k}']`);
    return tr && tr.querySelector('td[data-column="note"]').textContent.startsWith("called");
  }, key);
  log({ step: "edit", key: JSON.parse(key),
        note: await edited.locator('td[data-column="note"]').textContent() });

  // Another tab changes the same cell; this page, which has not seen that, edits it again:
  // nothing is overwritten, the page says so and shows the cell as it is now.
  const otherContext = await browser.newContext();  // the same session, another tab
  await otherContext.addCookies(await page.context().cookies());
  const other = await otherContext.newPage();
  await other.goto(page.url());
  const otherRow = other.locator(`#grid tbody tr[data-key='${key}']`);
  await otherRow.locator('td[data-column="note"]').dblclick();
  await other.fill("#cell-editor .value", "changed in another tab");
  await other.click("#cell-save");
  await other.waitForSelector("#cell-editor", { state: "detached" });
  await otherContext.close();
  await edited.locator('td[data-column="note"]').dblclick();
  await page.waitForSelector("#cell-editor");
  await page.fill("#cell-editor .value", "called the customer: ring twice");
  await page.click("#cell-save");
  await page.waitForFunction(() => /changed by someone else/.test(
    (document.querySelector("#cell-editor") || {}).textContent || ""));
  const conflict = { message: await page.textContent("#cell-editor"),
    cell: await page.textContent(`#grid tbody tr[data-key='${key}'] td[data-column="note"]`) };
  await page.click("#cell-save");  // knowingly, now that the page has shown the new value
  await page.waitForSelector("#cell-editor", { state: "detached" });
  log({ step: "conflict", ...conflict });

  // Follow the foreign key to the customer...
  const fkCell = edited.locator('td[data-column="customer_id"]');
  const customer = (await fkCell.textContent()).replace("→", "");
  await fkCell.locator("a.fk").click();
  await page.waitForFunction(() => location.hash.startsWith("#/t/public/customers") &&
    document.querySelector('#grid th[data-column="email"]') &&
    document.querySelector("#grid tbody tr"));
  log({ step: "follow", customer, ids: await texts(column("id")) });

  // ...and back by the rows that reference it.
  await page.click("#grid tbody tr .open-row");
  await page.waitForSelector("#refs-in a.ref-in");
  const refText = await page.textContent("#refs-in a.ref-in");
  await shot("studio-row.png");
  await page.click("#refs-in a.ref-in");
  await page.waitForFunction(() => location.hash.startsWith("#/t/public/orders") &&
    document.querySelector('#grid th[data-column="status"]') &&
    document.querySelector("#grid tbody tr"));
  const customers = (await texts(column("customer_id"))).map((t) => t.replace("→", ""));
  log({ step: "back", ref: refText, customer_ids: [...new Set(customers)],
        rows: customers.length });

  // An error from PostgreSQL, next to its field: a duplicate email.
  await page.click('.rel-link[data-name="customers"]');
  const email = (id) => `#grid tbody tr[data-key='["${id}"]'] td[data-column="email"]`;
  await page.waitForSelector(email(2));
  const email1 = await page.textContent(email(1));
  await page.dblclick(email(2));
  await page.fill("#cell-editor .value", email1);
  await page.click("#cell-save");
  const fieldError = "#cell-editor .field .error";
  await page.waitForFunction((sel) => document.querySelector(sel).textContent.length > 0,
                             fieldError);
  log({ step: "edit-error", message: await page.textContent(fieldError) });
  await shot("studio-edit-error.png");
  await page.keyboard.press("Escape");

  // Insert a row: a check constraint refuses the first try, next to its field.
  await page.click('.rel-link[data-name="products"]');
  await page.waitForSelector("#grid tbody tr");
  await page.click("#add-row");
  const field = (name, sel) => `#insert-form .field[data-column="${name}"] ${sel}`;
  await page.fill(field("sku", ".value"), "SKU-9001");
  await page.fill(field("title", ".value"), "Spinnaker 9001");
  await page.fill(field("price_cents", ".value"), "-5");
  await page.uncheck(field("tags", ".use-default"));
  await page.click(field("tags", ".add-item"));
  await page.fill(field("tags", ".array-item:last-child input.item"), "sail");
  await page.click("#insert-save");
  await page.waitForFunction((sel) => document.querySelector(sel).textContent.length > 0,
                             field("price_cents", ".error"));
  const insertError = await page.textContent(field("price_cents", ".error"));
  await shot("studio-insert.png");
  const beforeInsert = await page.textContent(".title-row");
  await page.fill(field("price_cents", ".value"), "1999");
  await page.click("#insert-save");
  await page.waitForSelector("#insert-form", { state: "detached" });
  // The page is drawn again with the new row count after the dialog closes: a filter added
  // before that would be drawn away with the old toolbar.
  await page.waitForFunction((b) => document.querySelector(".title-row").textContent !== b,
                             beforeInsert);
  log({ step: "insert", error: insertError });

  // Delete it again: select, delete, confirm.
  await page.click("#filter-add");
  await page.selectOption(".filter-row .f-col", "sku");
  await page.selectOption(".filter-row .f-op", "eq");
  await page.fill(".filter-row input.f-value", "SKU-9001");
  await page.click("#filter-apply");
  await page.waitForFunction((sel) => location.hash.includes("f=") &&
    [...document.querySelectorAll(sel)].map((td) => td.textContent).join() === "SKU-9001",
    column("sku"));
  await page.check('#grid tbody tr input[type="checkbox"]');
  await page.click("#delete-rows");
  await page.waitForFunction(
    () => !document.querySelector("#delete-impact").textContent.includes("Counting"));
  const impact = await page.textContent("#delete-impact");
  const before = await page.textContent(".title-row");
  await page.click("#delete-confirm");
  await page.waitForSelector(".grid ~ .empty, .grid-wrap .empty");
  await page.waitForFunction((b) => document.querySelector(".title-row").textContent !== b, before);
  log({ step: "delete", toast: await page.textContent("#toast"), impact, before,
        after: await page.textContent(".title-row") });

  // The SQL console: rows, and a write refused.
  await page.click("#nav-sql");
  await page.fill("#console-sql", "SELECT sku FROM products ORDER BY sku");
  await page.click("#console-run");
  await page.waitForSelector("#console-grid tbody tr");
  const consoleRows = await page.$$eval("#console-grid tbody tr", (trs) => trs.length);
  await page.fill("#console-sql", "DELETE FROM products");
  await page.click("#console-run");
  await page.waitForSelector(".console-error");
  log({ step: "console", rows: consoleRows, error: await page.textContent(".console-error") });

  // The structure of a table.
  await page.click('.rel-link[data-name="orders"]');
  await page.click('.tabs a[data-tab="structure"]');
  await page.waitForSelector("#structure-columns");
  log({ step: "structure", columns: await texts("#structure-columns tbody tr td:first-child") });
  await shot("studio-structure.png");

  // trimtab's view: the schema file against the database.
  await page.click("#nav-trimtab");
  await page.waitForSelector("#plan .change", { timeout: 90000 });
  await page.waitForSelector("#status");
  log({ step: "trimtab", changes: await texts("#plan .change .desc"),
        hazards: await texts("#plan .hazard"),
        migrations: await page.textContent("#migrations-summary"),
        drift: await texts("#drift li") });
  await shot("studio-trimtab.png");

  // Read-only: the banner on every page, no edit controls, nothing to save.
  const ro = await browser.newPage({ viewport: { width: 1360, height: 520 } });
  await ro.goto(process.env.READ_ONLY_URL);
  await ro.click('.rel-link[data-name="customers"]');
  await ro.waitForSelector("#grid tbody tr");
  await ro.dblclick('#grid tbody tr td[data-column="name"]');
  log({ step: "read-only", banner: await ro.textContent("#mode-banner"),
        banner_visible: await ro.isVisible("#mode-banner"),
        add_row_visible: await ro.isVisible("#add-row"),
        editor: await ro.locator("#cell-editor").count() });
  await ro.screenshot({ path: `${shots}/studio-read-only.png` });
  await browser.close();
}
main().then(() => log({ event: "done" }), async (e) => {
  log({ event: "fatal", message: String((e && e.stack) || e) });
  if (current) await current.screenshot({ path: `${shots}/failure.png` }).catch(() => {});
  process.exit(1);
});
"""


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and cannot be installed here (needs apt-get "
                    "as root): apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, env=env, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0 or not Path("/usr/bin/chromium").exists():
        pytest.skip(f"could not install chromium with apt-get: {done.stderr[-500:]}")
    return "/usr/bin/chromium"


def _playwright() -> Path:
    module = CACHE / "node_modules" / "playwright-core"
    if (module / "package.json").exists():
        return module
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("the end-to-end test needs Node.js and npm (for playwright-core)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                           PLAYWRIGHT], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not module.exists():
        pytest.skip(f"npm could not install {PLAYWRIGHT}: {done.stderr[-500:]}")
    return module


class Studio:
    """`trimtab studio --no-browser` as a process, and the URL it printed."""

    def __init__(self, root: Path, env: dict[str, str], *flags: str) -> None:
        self.stderr = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trimtab", "studio", "--no-browser", *flags], cwd=root,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not re.fullmatch(r"studio: http://127\.0\.0\.1:\d+/\?code=[\w-]+", line):
            self.stop()
            raise AssertionError(f"unexpected first line {line!r}: {self.stderr}")
        self.url = line.split(" ", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, self.stderr = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()


@pytest.fixture
def shop(sql: SqlRunner, db_url: str, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The quickstart shop with data; its first migration applied, then a column added by
    hand (drift), and one more column in the schema file (pending, in no migration)."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "trimtab.toml").write_text('schema = "schema.sql"\nmigrations = "migrations"\n')
    (root / "schema.sql").write_text(QUICKSTART.read_text())
    cfg = load_config(root, url=db_url)
    migration = engine.generate(cfg, name="init").migration
    assert migration is not None
    engine.migrate(cfg)
    sql(SEED)
    (root / "schema.sql").write_text(SCHEMA_FILE)
    yield root, {**os.environ, "DATABASE_URL": db_url}


def test_studio_in_a_browser(shop: tuple[Path, dict[str, str]], sql: SqlRunner,
                             tmp_path: Path) -> None:
    chromium = _chromium()
    playwright = _playwright()
    root, env = shop
    shots = Path(os.environ.get("TRIMTAB_STUDIO_SCREENSHOTS") or tmp_path / "shots").resolve()
    shots.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "drive.js"
    script.write_text(DRIVER)
    home = tmp_path / "home"  # Chromium's profile and caches stay out of the real home
    home.mkdir()
    studio = Studio(root, env)
    read_only = Studio(root, env, "--read-only")
    try:
        run = subprocess.run(
            ["node", str(script)], capture_output=True, text=True, timeout=240,
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                 "XDG_CACHE_HOME": str(home / ".cache"), "PLAYWRIGHT_MODULE": str(playwright),
                 "CHROMIUM": chromium, "CHROMIUM_FLAGS": json.dumps(CHROMIUM_FLAGS),
                 "STUDIO_URL": studio.url, "READ_ONLY_URL": read_only.url,
                 "SHOTS": str(shots)})
    finally:
        studio.stop()
        read_only.stop()
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    print("\n".join(json.dumps(e) for e in events))
    assert {"event": "done"} in events, (run.stdout, run.stderr, studio.stderr)
    # The refused edit (422) and the conflicting one (409) are responses Chromium reports on
    # the console; nothing else.
    problems = [e for e in events if e.get("event") == "pageerror" or (
        e.get("event") == "console-error" and "status of 422" not in e["text"]
        and "status of 409" not in e["text"])]
    assert not problems, problems
    step = {e["step"]: e for e in events if "step" in e}

    assert "code=" not in step["open"]["url"]  # the code left the address bar
    assert step["open"]["badge"] == "read-write"
    assert step["table"]["rows"] == 50 and step["table"]["where"] == "rows 1–50 of 180"
    paging = step["paging"]
    assert (paging["second_first"], paging["back_first"]) == ("51", "1")
    assert (paging["third_first"], paging["fourth_first"]) == ("101", "151")
    assert paging["next_disabled"]
    assert step["filter"]["statuses"] == ["paid"]
    assert step["filter"]["where"] == "rows 1–45 of 45"

    (order_id,) = step["edit"]["key"]
    assert step["edit"]["note"] == "called the customer: ring twice"
    assert "changed in another tab" in step["conflict"]["message"]
    assert step["conflict"]["cell"] == "changed in another tab"  # the row reloaded
    assert sql("SELECT note FROM orders WHERE id = %s", (int(order_id),)) == [
        ("called the customer: ring twice",)]

    customer = step["follow"]["customer"]
    assert step["follow"]["ids"] == [customer]
    assert step["back"]["customer_ids"] == [customer]
    n = sql("SELECT count(*) FROM orders WHERE customer_id = %s", (int(customer),))[0][0]
    assert step["back"]["rows"] == n and f"{n} row" in step["back"]["ref"]

    assert "duplicate key value violates unique constraint" in step["edit-error"]["message"]
    assert sql("SELECT count(DISTINCT email) FROM customers") == [(40,)]

    assert "violates check constraint" in step["insert"]["error"]
    assert step["delete"]["toast"] == "deleted 1 row"
    assert "Nothing else is deleted" in step["delete"]["impact"]
    assert "13 rows" in step["delete"]["before"] and "12 rows" in step["delete"]["after"]
    assert step["console"]["rows"] == 12
    assert "read-only transaction" in step["console"]["error"]
    assert sql("SELECT count(*) FROM products") == [(12,)]
    assert sql("SELECT count(*) FROM products WHERE sku = 'SKU-9001'") == [(0,)]
    assert step["structure"]["columns"][:2] == ["idPK", "customer_id"]
    changes = step["trimtab"]["changes"]
    assert any("add column public.orders.shipped_at" in c for c in changes)
    assert any("drop column public.customers.legacy_code" in c for c in changes)
    assert any("40 non-null values" in h for h in step["trimtab"]["hazards"])
    assert "1 applied, 0 pending" in step["trimtab"]["migrations"]
    assert any("customers.legacy_code exists in the database but in no migration" in d
               for d in step["trimtab"]["drift"])
    assert sql("SELECT count(*) FROM information_schema.columns "
               "WHERE column_name = 'legacy_code'") == [(1,)]  # nothing applied

    ro = step["read-only"]
    assert ro["banner_visible"] and "--read-only" in ro["banner"]
    assert not ro["add_row_visible"] and ro["editor"] == 0
    for name in ("table", "filter", "edit", "row", "edit-error", "insert", "structure",
                 "trimtab", "read-only"):
        assert (shots / f"studio-{name}.png").stat().st_size > 10_000
