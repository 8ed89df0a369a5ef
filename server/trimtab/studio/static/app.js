/* trimtab studio: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
   Every value from the database is put in the page as text (textContent), never as HTML. */
"use strict";
(() => {
  const CSRF = document.querySelector('meta[name="trimtab-csrf"]').content;
  // The link's one-time code never reaches the page: the server trades it for the session
  // cookie and redirects to the bare address.

  // -- small helpers ------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "value") el.value = v;
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  /* Replace an element's children: arrays are flattened, null/undefined/false left out. */
  function fill(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const fmt = (n) => (n === null || n === undefined ? "?" : Number(n).toLocaleString("en-US"));
  const enc = encodeURIComponent;
  const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

  let toastTimer = null;
  function toast(text, error) {
    const t = $("#toast");
    t.textContent = text;
    t.className = "show" + (error ? " error" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.className = ""; }, error ? 6000 : 2500);
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.error ? body.error : `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }
  async function parse(r) {
    let body = null;
    try { body = await r.json(); } catch (e) { body = { error: `HTTP ${r.status}` }; }
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }
  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null || v === "") continue;
      q.set(k, typeof v === "string" ? v : JSON.stringify(v));
    }
    const qs = q.toString();
    return parse(await fetch(path + (qs ? "?" + qs : ""), {
      credentials: "same-origin", headers: { Accept: "application/json" } }));
  }
  async function post(path, body) {
    return parse(await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Trimtab-Token": CSRF },
      body: JSON.stringify(body) }));
  }
  function errorNotice(e) {
    const b = (e && e.body) || {};
    return h("div", { class: "notice error" }, e.message || String(e),
      b.detail ? h("div", { class: "small" }, b.detail) : null,
      b.hint ? h("div", { class: "small" }, "hint: " + b.hint) : null);
  }

  // -- state and routes -----------------------------------------------------------------------

  const S = { info: null, schemas: null, meta: new Map(), insight: null, route: null };
  const writable = (meta) => !S.info.read_only && !meta.read_only;

  function parseHash() {
    const raw = location.hash.slice(1) || "/";
    const at = raw.indexOf("?");
    const path = at < 0 ? raw : raw.slice(0, at);
    const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
    const parts = path.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
    return { parts, params };
  }
  function tableHash(schema, table, opts) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts || {})) {
      if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) continue;
      q.set(k, typeof v === "string" ? v : JSON.stringify(v));
    }
    const qs = q.toString();
    return `#/t/${enc(schema)}/${enc(table)}` + (qs ? "?" + qs : "");
  }

  async function loadTables(refresh) {
    const data = await api("/api/tables", { refresh: refresh ? "1" : "" });
    S.schemas = data.schemas;
    renderSidebar();
  }
  async function tableMeta(schema, table) {
    const key = schema + "\u0000" + table;
    if (!S.meta.has(key)) S.meta.set(key, await api("/api/table", { schema, table }));
    return S.meta.get(key);
  }

  function renderSidebar() {
    const list = $("#table-list");
    const needle = $("#table-search").value.trim().toLowerCase();
    const cur = S.route && S.route.parts[0] === "t" ? S.route.parts.slice(1, 3) : [];
    fill(list);
    for (const schema of S.schemas || []) {
      const rels = schema.relations.filter((r) => !needle ||
        (schema.name + "." + r.name).toLowerCase().includes(needle));
      if (!rels.length && needle) continue;
      list.append(h("div", { class: "schema-name" }, schema.name));
      if (!rels.length) list.append(h("div", { class: "muted small indent" }, "no tables"));
      for (const r of rels) {
        const isView = r.kind.includes("view");
        const n = r.rows === null ? (isView ? r.kind : "?") : (r.exact ? fmt(r.rows) : "~" + fmt(r.rows));
        list.append(h("a", {
          class: "rel-link" + (isView ? " view" : "") +
            (cur[0] === schema.name && cur[1] === r.name ? " current" : ""),
          href: tableHash(schema.name, r.name), title: r.comment || r.kind,
          dataset: { schema: schema.name, name: r.name },
        }, h("span", { class: "name" }, r.name), h("span", { class: "n" }, n)));
      }
    }
  }

  function renderHeader() {
    const info = S.info;
    $("#db-label").textContent = info.database;
    $("#db-label").title = info.database;
    const badge = $("#mode-badge");
    const banner = $("#mode-banner");
    if (info.read_only) {
      badge.textContent = "read-only";
      badge.className = "badge ro";
      banner.textContent = info.read_only;
      banner.className = "banner read-only";
      banner.hidden = false;
    } else {
      badge.textContent = "read-write";
      badge.className = "badge rw";
      badge.title = "edits are saved to the database, each in its own transaction";
      banner.hidden = true;
    }
  }

  let routeSeq = 0;
  async function route() {
    const seq = ++routeSeq;
    closePopover();
    S.route = parseHash();
    renderSidebar();
    const { parts, params } = S.route;
    const main = $("#main");
    try {
      if (parts[0] === "t" && parts.length >= 3) await showTable(parts[1], parts[2], params, seq);
      else if (parts[0] === "trimtab") await showTrimtab(seq);
      else if (parts[0] === "sql") showConsole(params);
      else showHome();
    } catch (e) {
      if (seq === routeSeq) fill(main, errorNotice(e));
    }
  }
  const stale = (seq) => seq !== routeSeq;

  // -- home -----------------------------------------------------------------------------------

  function showHome() {
    const info = S.info;
    const tables = (S.schemas || []).reduce((n, s) => n + s.relations.length, 0);
    fill($("#main"), 
      h("h1", null, "trimtab studio"),
      h("p", { class: "muted" }, `${plural(tables, "table")} and views in ${plural((S.schemas || []).length, "schema")}. Pick one on the left.`),
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("h3", null, "Database"), h("div", { class: "mono small" }, info.database),
          h("p", null, info.read_only ? h("span", { class: "badge ro" }, "read-only") : h("span", null, "Edits are saved, each in one transaction."))),
        h("div", { class: "card" }, h("h3", null, "Project"), h("div", { class: "mono small" }, info.project),
          h("div", { class: "small" }, "schema: ", h("code", null, info.schema_file)),
          h("div", { class: "small" }, "migrations: ", h("code", null, info.migrations))),
        h("div", { class: "card" }, h("h3", null, "trimtab's view"),
          h("p", null, "Pending changes from the schema file, their hazards, migrations and drift."),
          h("a", { href: "#/trimtab" }, "Schema & migrations →"))));
  }

  // -- a table --------------------------------------------------------------------------------

  const OP_LABELS = { eq: "=", ne: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤", between: "between",
    contains: "contains", starts: "starts with", in: "is one of", has: "has element",
    json_contains: "contains JSON", null: "is NULL", notnull: "is not NULL" };
  const NUMERIC = new Set(["int", "number"]);

  function readState(params) {
    let filters = [];
    try { filters = JSON.parse(params.get("f") || "[]"); } catch (e) { filters = []; }
    if (!Array.isArray(filters)) filters = [];
    const offset = params.get("offset");
    const at = params.get("at");
    return {
      tab: params.get("tab") || "data", sort: params.get("sort") || "", dir: params.get("dir") || "asc",
      filters, after: params.get("after") || "", before: params.get("before") || "",
      last: params.get("last") === "1", offset: offset === null ? null : Number(offset),
      at: at === null ? null : (at === "end" ? "end" : Number(at)),
    };
  }
  function readStateAt(st) {
    // The first page is at row 0; other pages say where they are (when it is known).
    if (st.at === null && !st.after && !st.before && !st.last && st.offset === null) st.at = 0;
    return st;
  }
  function stateHash(meta, st, changes) {
    const s = Object.assign({}, st, changes);
    return tableHash(meta.schema, meta.name, {
      tab: s.tab !== "data" ? s.tab : "", sort: s.sort, dir: s.sort && s.dir === "desc" ? "desc" : "",
      f: s.filters, after: s.after, before: s.before, last: s.last ? "1" : "",
      offset: s.offset === null || s.offset === undefined ? "" : String(s.offset),
      at: s.at === null || s.at === undefined ? "" : String(s.at),
    });
  }
  const fresh = { after: "", before: "", last: false, offset: null, at: 0 };

  async function showTable(schema, table, params, seq) {
    const meta = await tableMeta(schema, table);
    if (stale(seq)) return;
    const st = readStateAt(readState(params));
    const main = $("#main");
    const tab = (name, label, extra) => h("a", { href: stateHash(meta, st, { tab: name }),
      class: st.tab === name ? "on" : "", dataset: { tab: name } }, label, extra || null);
    const entry = findRel(schema, table);
    const rows = entry && entry.rows !== null ? (entry.exact ? plural(entry.rows, "row") : "~" + plural(entry.rows, "row")) : "";
    const pending = pendingFor(meta);
    fill(main,
      h("div", { class: "title-row" }, h("h1", null, `${meta.schema}.${meta.name}`),
        h("span", { class: "kind" }, meta.kind), h("span", { class: "muted" }, rows)),
      meta.comment ? h("div", { class: "muted" }, meta.comment) : null,
      meta.read_only ? h("div", { class: "notice", id: "read-only-reason" }, "Read-only: " + meta.read_only) : null,
      h("div", { class: "tabs" }, tab("data", "Data"), tab("structure", "Structure"),
        tab("trimtab", "trimtab", pending ? h("span", { class: "count" }, String(pending)) : null)),
      h("div", { id: "tab-body" }));
    const body = $("#tab-body");
    if (st.tab === "structure") return showStructure(meta, body);
    if (st.tab === "trimtab") return showTableInsight(meta, body, seq);
    return showData(meta, st, body, seq);
  }

  function findRel(schema, table) {
    const s = (S.schemas || []).find((x) => x.name === schema);
    return s ? s.relations.find((r) => r.name === table) : null;
  }

  async function showData(meta, st, body, seq) {
    const canWrite = writable(meta);
    const cols = meta.columns;
    const filterBox = h("div", { class: "filters", id: "filters" });
    const drafts = st.filters.map((f) => Object.assign({}, f));
    const pagerWhere = h("span", { class: "where", id: "page-where" }, "…");
    const btn = (id, label, title) => h("button", { type: "button", id, title, disabled: true }, label);
    const first = btn("page-first", "« First", "first page");
    const prev = btn("page-prev", "◀ Prev", "previous page");
    const next = btn("page-next", "Next ▶", "next page");
    const last = btn("page-last", "Last »", "last page");
    const delBtn = h("button", { type: "button", id: "delete-rows", class: "danger", disabled: true, hidden: !canWrite }, "Delete");
    const grid = h("div", { class: "grid-wrap" }, h("div", { class: "empty" }, "Loading…"));
    const status = h("div", { id: "data-status" });
    fill(body,
      h("div", { class: "toolbar" },
        h("button", { type: "button", id: "filter-add", onclick: () => { drafts.push(newFilter(meta)); drawFilters(); } }, "+ Filter"),
        h("button", { type: "button", id: "add-row", hidden: !canWrite, onclick: () => insertDialog(meta) }, "+ Add row"),
        delBtn,
        h("a", { class: "button", id: "export-csv", download: `${meta.schema}.${meta.name}.csv`, title: "these rows (filters, sort), every page, as CSV",
          href: "/api/export?" + new URLSearchParams(Object.entries({ schema: meta.schema, table: meta.name, sort: st.sort, dir: st.sort ? st.dir : "",
            filters: st.filters.length ? JSON.stringify(st.filters) : "" }).filter(([, v]) => v)).toString() }, "Export CSV"),
        h("span", { class: "spacer" }),
        h("span", { class: "muted small", id: "page-ms" }),
        h("div", { class: "pager" }, first, prev, pagerWhere, next, last)),
      filterBox, status, grid);

    function applyFilters() {
      location.hash = stateHash(meta, st, Object.assign({}, fresh, { filters: drafts.filter((f) => f.column) }));
    }
    function drawFilters(bad) {
      fill(filterBox, ...drafts.map((f, i) => filterRow(meta, f, i, drafts, drawFilters, applyFilters, bad)));
      if (drafts.length) {
        filterBox.append(h("div", { class: "filter-row" },
          h("button", { type: "button", class: "primary", id: "filter-apply", onclick: applyFilters }, "Apply filters"),
          st.filters.length ? h("button", { type: "button", class: "link", onclick: () => { drafts.length = 0; applyFilters(); } }, "clear all") : null));
      }
    }
    drawFilters();

    const params = { schema: meta.schema, table: meta.name, sort: st.sort, dir: st.sort ? st.dir : "",
      filters: st.filters.length ? st.filters : "", limit: "50" };
    if (st.offset !== null && !Number.isNaN(st.offset)) params.offset = String(st.offset);
    else if (st.last) params.last = "1";
    else if (st.after) params.after = st.after;
    else if (st.before) params.before = st.before;
    const countP = api("/api/count", { schema: meta.schema, table: meta.name, filters: params.filters }).catch(() => null);
    let page;
    try {
      page = await api("/api/rows", params);
    } catch (e) {
      if (stale(seq)) return;
      fill(grid, h("div", { class: "empty" }, "No rows to show."));
      fill(status, errorNotice(e));
      if (e.body && e.body.filter !== undefined && e.body.filter !== null) drawFilters({ index: e.body.filter, message: e.message });
      return;
    }
    if (stale(seq)) return;
    $("#page-ms").textContent = `${page.ms} ms`;
    const view = { meta, st, page, selected: new Set(), canWrite };
    drawGrid(view, grid, delBtn);
    const at = st.offset !== null && !Number.isNaN(st.offset) ? st.offset : st.at;
    const n = page.rows.length;
    const setWhere = (count) => {
      const total = count && count.rows !== null ? (count.exact ? fmt(count.rows) : (count.at_least ? "more than " : "~") + fmt(count.rows)) : null;
      let pos = at;
      if (pos === "end") pos = count && count.exact ? count.rows - n : null;
      if (!n) pagerWhere.textContent = total === null ? "no rows" : `no rows of ${total}`;
      else if (pos === null || Number.isNaN(pos)) pagerWhere.textContent = total ? `${fmt(n)} rows of ${total}` : `${fmt(n)} rows`;
      else pagerWhere.textContent = `rows ${fmt(pos + 1)}–${fmt(pos + n)}` + (total ? ` of ${total}` : "");
      return pos;
    };
    let pos = setWhere(null);
    countP.then((count) => {
      if (stale(seq)) return;
      pos = setWhere(count);
      view.count = count;
      // Small tables also jump to a page by number (OFFSET, up to row 10,000).
      if (meta.keyset && count && count.exact && count.rows > 50 && count.rows <= 10000) {
        const pages = Math.ceil(count.rows / 50);
        const current = typeof pos === "number" && !Number.isNaN(pos) ? Math.floor(pos / 50) + 1 : "";
        const input = h("input", { type: "number", id: "page-number", min: "1", max: String(pages), value: String(current),
          title: "go to page", "aria-label": "page number", onchange: () => {
            const n = Math.min(pages, Math.max(1, Number(input.value) || 1));
            location.hash = stateHash(meta, st, Object.assign({}, fresh, { offset: (n - 1) * 50, at: null }));
          } });
        pagerWhere.after(h("span", { class: "muted small page-of" }, "page ", input, ` of ${pages}`));
      }
    });
    const useOffset = page.offset !== null && page.offset !== undefined && !meta.keyset;
    first.disabled = !page.has_prev;
    prev.disabled = !page.has_prev;
    next.disabled = !page.has_next;
    last.disabled = !page.has_next;
    first.onclick = () => { location.hash = stateHash(meta, st, fresh); };
    next.onclick = () => {
      const p = typeof pos === "number" && !Number.isNaN(pos) ? pos + n : null;
      if (useOffset) location.hash = stateHash(meta, st, Object.assign({}, fresh, { offset: (page.offset || 0) + n, at: null }));
      else location.hash = stateHash(meta, st, Object.assign({}, fresh, { after: page.next, at: p }));
    };
    prev.onclick = () => {
      const p = typeof pos === "number" && !Number.isNaN(pos) ? Math.max(0, pos - 50) : null;
      if (useOffset) location.hash = stateHash(meta, st, Object.assign({}, fresh, { offset: Math.max(0, (page.offset || 0) - 50), at: null }));
      else location.hash = stateHash(meta, st, Object.assign({}, fresh, { before: page.prev, at: p }));
    };
    last.onclick = async () => {
      if (!useOffset) { location.hash = stateHash(meta, st, Object.assign({}, fresh, { last: true, at: "end" })); return; }
      const count = await countP;
      if (count && count.exact) location.hash = stateHash(meta, st, Object.assign({}, fresh, { offset: Math.max(0, Math.floor((count.rows - 1) / 50) * 50), at: null }));
    };
    delBtn.onclick = () => deleteDialog(view);
  }

  function newFilter(meta) {
    const col = meta.columns[0];
    return { column: col.name, op: col.operators[0], value: "" };
  }

  function filterRow(meta, f, i, drafts, redraw, apply, bad) {
    const col = meta.columns.find((c) => c.name === f.column) || meta.columns[0];
    const colSel = h("select", { class: "f-col", "aria-label": "column", onchange: () => {
      const c = meta.columns.find((x) => x.name === colSel.value);
      f.column = c.name; f.op = c.operators[0]; f.value = ""; redraw(); } },
      meta.columns.map((c) => h("option", { value: c.name, selected: c.name === col.name }, c.name)));
    const opSel = h("select", { class: "f-op", "aria-label": "operator", onchange: () => {
      f.op = opSel.value; f.value = f.op === "between" ? ["", ""] : (f.op === "in" ? [] : ""); redraw(); } },
      col.operators.map((op) => h("option", { value: op, selected: op === f.op }, OP_LABELS[op] || op)));
    const onKey = (e) => { if (e.key === "Enter") apply(); };
    let valueEls = [];
    if (f.op === "null" || f.op === "notnull") {
      valueEls = [];
    } else if (f.op === "between") {
      if (!Array.isArray(f.value)) f.value = ["", ""];
      valueEls = [0, 1].map((k) => { const inp = filterInput(col, f.value[k], (v) => { f.value[k] = v; }, onKey); return inp; });
      valueEls.splice(1, 0, h("span", { class: "muted" }, "and"));
    } else if (f.op === "in") {
      if (!Array.isArray(f.value)) f.value = [];
      // a checkbox per value: picking several needs no Ctrl-click
      const sel = h("span", { class: "f-value in-list", role: "group", "aria-label": "values" },
        (col.enum || []).map((v) => h("label", null, h("input", { type: "checkbox", value: v, checked: f.value.includes(v),
          onchange: (e) => { f.value = e.target.checked ? [...f.value.filter((x) => x !== v), v] : f.value.filter((x) => x !== v); } }), v)));
      valueEls = [sel];
    } else {
      valueEls = [filterInput(col, typeof f.value === "string" ? f.value : "", (v) => { f.value = v; }, onKey, f.op)];
    }
    const isBad = bad && bad.index === i;
    return h("div", { class: "filter-row" + (isBad ? " bad" : ""), dataset: { index: String(i) } }, colSel, opSel, valueEls,
      h("button", { type: "button", class: "link f-remove", title: "remove this filter", onclick: () => { drafts.splice(i, 1); apply(); } }, "✕"),
      isBad ? h("span", { class: "error" }, bad.message) : null);
  }

  function filterInput(col, value, set, onKey, op) {
    const cat = col.category;
    if ((cat === "enum" && op !== "contains") || cat === "bool") {
      const options = cat === "bool" ? ["true", "false"] : (col.enum || []);
      if (!value) { value = options[0] || ""; set(value); }
      return h("select", { class: "f-value", onchange: (e) => set(e.target.value) },
        options.map((v) => h("option", { value: v, selected: v === value }, v)));
    }
    const type = cat === "date" ? "date" : "text";
    const placeholder = { int: "number", number: "number", timestamp: "YYYY-MM-DD HH:MM:SS", timestamptz: "YYYY-MM-DD HH:MM:SS+00",
      uuid: "uuid", json: op === "json_contains" ? '{"key": "value"}' : "text", time: "HH:MM:SS", interval: "1 day" }[cat] || "value";
    return h("input", { class: "f-value", type, value, placeholder, "aria-label": "value",
      oninput: (e) => set(e.target.value), onkeydown: onKey });
  }

  function cellText(col, v) {
    if (v === null || v === undefined) return null;
    if (Array.isArray(v)) return arrayText(v);
    return String(v);
  }
  function arrayText(items) {
    return "[" + items.map((x) => (Array.isArray(x) ? arrayText(x) : x === null ? "NULL" : JSON.stringify(x))).join(", ") + "]";
  }

  function drawGrid(view, wrap, delBtn) {
    const { meta, st, page } = view;
    const cols = meta.columns;
    const fkByFirst = new Map();
    for (const fk of meta.fks_out) fkByFirst.set(fk.columns[0], fk);
    const head = h("tr", null,
      h("th", { class: "ctl" }, view.canWrite ? h("input", { type: "checkbox", "aria-label": "select all rows", onchange: (e) => {
        for (const r of page.rows) { if (e.target.checked) view.selected.add(JSON.stringify(r.key)); else view.selected.delete(JSON.stringify(r.key)); }
        wrap.querySelectorAll("tbody input[type=checkbox]").forEach((c) => { c.checked = e.target.checked; c.closest("tr").classList.toggle("selected", e.target.checked); });
        updateDel(); } }) : ""),
      cols.map((c) => {
        const sorted = st.sort === c.name;
        const arrow = sorted ? (st.dir === "desc" ? "▼" : "▲") : "";
        return h("th", { class: (c.sortable ? "sortable" : "") + (c.pk ? " pk" : ""), dataset: { column: c.name },
          title: c.comment || (c.sortable ? "sort by " + c.name : "this type has no ordering"),
          onclick: c.sortable ? () => {
            const dir = sorted && st.dir === "asc" ? "desc" : "asc";
            const clear = sorted && st.dir === "desc";
            location.hash = stateHash(meta, st, Object.assign({}, fresh, { sort: clear ? "" : c.name, dir: clear ? "" : dir }));
          } : null },
        h("span", { class: "cname" }, c.name), arrow ? h("span", { class: "arrow" }, arrow) : null, h("span", { class: "type" }, c.type));
      }));
    const tbody = h("tbody");
    for (const r of page.rows) tbody.append(gridRow(view, r, fkByFirst, updateDel));
    function updateDel() {
      delBtn.disabled = view.selected.size === 0;
      delBtn.textContent = view.selected.size ? `Delete ${plural(view.selected.size, "row")}` : "Delete";
    }
    if (!page.rows.length) {
      fill(wrap, h("table", { class: "grid" }, h("thead", null, head)),
        h("div", { class: "empty" }, st.filters.length ? "No rows match these filters." : "This table is empty."));
      return;
    }
    fill(wrap, h("table", { class: "grid", id: "grid" }, h("thead", null, head), tbody));
    view.tbody = tbody;
    view.fkByFirst = fkByFirst;
    view.updateDel = updateDel;
  }

  function gridRow(view, r, fkByFirst, updateDel) {
    const { meta } = view;
    const cols = meta.columns;
    const keyJson = JSON.stringify(r.key);
    const cut = new Set(r.cut || []);
    const tr = h("tr", { dataset: { key: keyJson } });
    const open = h("button", { type: "button", class: "link open-row", title: "open this row", onclick: () => openRow(meta, r.key) }, "⤢");
    tr.append(h("td", { class: "ctl" }, view.canWrite ? h("input", { type: "checkbox", "aria-label": "select row", checked: view.selected.has(keyJson), onchange: (e) => {
      if (e.target.checked) view.selected.add(keyJson); else view.selected.delete(keyJson);
      tr.classList.toggle("selected", e.target.checked); updateDel(); } }) : null, r.key.length ? open : null));
    cols.forEach((c, i) => {
      const v = r.cells[i];
      const text = cellText(c, v);
      const td = h("td", { dataset: { column: c.name }, class: [text === null ? "null" : "", NUMERIC.has(c.category) ? "num" : "",
        view.canWrite && c.updatable ? "editable" : ""].filter(Boolean).join(" "), title: text !== null && text.length > 40 ? text.slice(0, 500) : null },
        text === null ? "NULL" : text, cut.has(i) ? h("span", { class: "cut" }, "…") : null);
      const fk = fkByFirst.get(c.name);
      if (fk) {
        const values = fk.columns.map((name) => r.cells[cols.findIndex((x) => x.name === name)]);
        if (values.every((x) => typeof x === "string")) {
          const filters = fk.ref_columns.map((rc, k) => ({ column: rc, op: "eq", value: values[k] }));
          td.append(h("a", { class: "fk", href: tableHash(fk.ref_schema, fk.ref_table, { f: filters }),
            title: `open the ${fk.ref_schema}.${fk.ref_table} row it references` }, "→"));
        }
      }
      if (view.canWrite && c.updatable) td.addEventListener("dblclick", () => editCell(view, r, c, i, td));
      tr.append(td);
    });
    r.tr = tr;
    return tr;
  }

  // -- editing --------------------------------------------------------------------------------

  /* An input for one column's value, by type: returns {el, get() -> value | undefined (invalid),
     error(message)}. `value` is what the API sends (text, array of texts, or null). */
  function valueInput(col, value, opts) {
    opts = opts || {};
    const wrap = h("div", { class: "field", dataset: { column: col.name } });
    const label = h("label", null, col.name, h("span", { class: "type" }, col.type));
    const control = h("div", { class: "control" });
    const err = h("div", { class: "error" });
    wrap.append(label, control, err);
    let get;
    let nullBox = null;
    let defaultBox = null;
    const cat = col.category;
    const onEnter = opts.onEnter;
    const keydown = (e) => { if (e.key === "Enter" && onEnter && e.target.tagName !== "TEXTAREA") { e.preventDefault(); onEnter(); } };
    let input;
    if (cat === "bool" || cat === "enum") {
      const options = cat === "bool" ? ["true", "false"] : (col.enum || []);
      input = h("select", { class: "value", onkeydown: keydown }, options.map((v) => h("option", { value: v, selected: v === value }, v)));
      if (value !== null && value !== undefined && !options.includes(value)) input.append(h("option", { value, selected: true }, value));
      get = () => input.value;
    } else if (cat === "json") {
      let text = value === null || value === undefined ? "" : value;
      try { if (text) text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* keep as is */ }
      input = h("textarea", { class: "value", rows: Math.min(12, Math.max(3, text.split("\n").length)), spellcheck: "false" }, text);
      const check = () => { try { JSON.parse(input.value); err.textContent = ""; wrap.classList.remove("bad"); return true; } catch (e) { err.textContent = "not valid JSON: " + e.message; wrap.classList.add("bad"); return false; } };
      input.addEventListener("input", check);
      get = () => (check() ? input.value : undefined);
    } else if (cat === "array") {
      return arrayInput(col, value, wrap, label, control, err, opts);
    } else if (cat === "date") {
      input = h("input", { class: "value", type: "date", value: value || "", onkeydown: keydown });
      get = () => input.value;
    } else if (cat === "timestamp" && (!value || /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(value))) {
      input = h("input", { class: "value", type: "datetime-local", step: "1", value: value ? value.replace(" ", "T") : "", onkeydown: keydown });
      get = () => (input.value ? input.value.replace("T", " ") : "");
    } else {
      const long = typeof value === "string" && (value.length > 80 || value.includes("\n"));
      input = long ? h("textarea", { class: "value", rows: 5 }, value) : h("input", { class: "value", type: "text", value: value === null || value === undefined ? "" : value, onkeydown: keydown,
        placeholder: { int: "a whole number", number: "a number", uuid: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", timestamptz: "YYYY-MM-DD HH:MM:SS+00", timestamp: "YYYY-MM-DD HH:MM:SS", time: "HH:MM:SS", interval: "1 day 02:00:00", bytea: "\\x0a1b…" }[cat] || "" });
      const patterns = { int: /^\s*[-+]?\d+\s*$/, number: /^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN|-?Infinity)\s*$/,
        uuid: /^\s*\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?\s*$/ };
      get = () => {
        const p = patterns[cat];
        if (p && !p.test(input.value)) { err.textContent = `not ${cat === "int" ? "a whole number" : cat === "number" ? "a number" : "a uuid"}`; wrap.classList.add("bad"); return undefined; }
        return input.value;
      };
      if (cat === "timestamptz" || cat === "timestamp") {
        control.append(input, h("button", { type: "button", class: "link", title: "the current time", onclick: () => {
          const d = new Date();
          input.value = cat === "timestamptz" ? d.toISOString().replace("T", " ").replace("Z", "+00") : d.toISOString().slice(0, 19).replace("T", " ");
        } }, "now"));
        input = null;
      }
    }
    if (input) control.append(input);
    const setDisabled = () => { const off = (nullBox && nullBox.checked) || (defaultBox && defaultBox.checked);
      control.querySelectorAll(".value, .control > input, .control > textarea, .control > select, button").forEach((x) => { if (!x.classList.contains("keep")) x.disabled = off; }); };
    if (opts.allowDefault) {
      defaultBox = h("input", { type: "checkbox", class: "use-default keep", checked: opts.useDefault, onchange: () => { if (defaultBox.checked && nullBox) nullBox.checked = false; setDisabled(); } });
      label.append(" ", h("label", { class: "toggle", title: col.default || (col.identity ? "identity" : "") }, defaultBox, "default"));
    }
    if (col.nullable) {
      nullBox = h("input", { type: "checkbox", class: "set-null keep", checked: value === null && !opts.useDefault, onchange: () => { if (nullBox.checked && defaultBox) defaultBox.checked = false; setDisabled(); } });
      label.append(" ", h("label", { class: "toggle" }, nullBox, "NULL"));
    }
    setDisabled();
    return {
      el: wrap, column: col.name,
      focus: () => { const x = control.querySelector("input:not([type=checkbox]), textarea, select"); if (x && !x.disabled) x.focus(); },
      useDefault: () => !!(defaultBox && defaultBox.checked),
      get: () => { err.textContent = ""; wrap.classList.remove("bad"); if (nullBox && nullBox.checked) return null; return get(); },
      error: (m) => { err.textContent = m || ""; wrap.classList.toggle("bad", !!m); },
    };
  }

  function arrayInput(col, value, wrap, label, control, err, opts) {
    const nested = Array.isArray(value) && value.some((x) => Array.isArray(x));
    let nullBox = null;
    if (col.nullable) {
      nullBox = h("input", { type: "checkbox", class: "set-null", checked: value === null });
      label.append(" ", h("label", { class: "toggle" }, nullBox, "NULL"));
    }
    let defaultBox = null;
    if (opts.allowDefault) {
      defaultBox = h("input", { type: "checkbox", class: "use-default", checked: opts.useDefault });
      label.append(" ", h("label", { class: "toggle" }, defaultBox, "default"));
    }
    let get;
    if (nested) {
      const ta = h("textarea", { class: "value", rows: 4 }, JSON.stringify(value));
      control.append(ta, h("div", { class: "hint" }, "a JSON array of arrays"));
      get = () => { try { const v = JSON.parse(ta.value); if (!Array.isArray(v)) throw new Error("not an array"); return v; } catch (e) { err.textContent = "not a JSON array: " + e.message; return undefined; } };
    } else {
      const items = h("div", { class: "array-items" });
      const addItem = (v) => {
        const isNull = v === null;
        const inp = col.element === "enum" || col.element === "bool"
          ? h("select", { class: "item" }, (col.element === "bool" ? ["true", "false"] : col.enum || []).map((o) => h("option", { value: o, selected: o === v }, o)))
          : h("input", { type: "text", class: "item", value: isNull ? "" : v });
        const nb = h("input", { type: "checkbox", class: "item-null", checked: isNull, title: "NULL element" });
        const row = h("div", { class: "array-item" }, inp, h("label", { class: "toggle" }, nb, "NULL"),
          h("button", { type: "button", class: "link", title: "remove", onclick: () => row.remove() }, "✕"));
        items.append(row);
      };
      for (const v of value || []) addItem(v);
      control.append(items, h("button", { type: "button", class: "link add-item", onclick: () => addItem("") }, "+ element"));
      get = () => Array.from(items.querySelectorAll(".array-item")).map((row) =>
        $(".item-null", row).checked ? null : $(".item", row).value);
    }
    return {
      el: wrap, column: col.name,
      focus: () => { const x = control.querySelector("input, textarea, select"); if (x) x.focus(); },
      useDefault: () => !!(defaultBox && defaultBox.checked),
      get: () => { err.textContent = ""; wrap.classList.remove("bad"); if (nullBox && nullBox.checked) return null; return get(); },
      error: (m) => { err.textContent = m || ""; wrap.classList.toggle("bad", !!m); },
    };
  }

  let popover = null;
  function closePopover() { if (popover) { popover.remove(); popover = null; } }
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") { closePopover(); closeDialog(); closeDrawer(); } });
  document.addEventListener("mousedown", (e) => { if (popover && !popover.contains(e.target)) closePopover(); });

  async function editCell(view, row, col, i, td) {
    let r = row;
    closePopover();
    let value = r.cells[i];
    if ((r.cut || []).includes(i)) {
      try { value = (await api("/api/row", { schema: view.meta.schema, table: view.meta.name, key: r.key })).cells[i]; }
      catch (e) { toast(e.message, true); return; }
    }
    // The value this edit starts from: the server saves only if the cell still holds it,
    // so an edit never silently overwrites someone else's.
    let seen = value;
    const save = async () => {
      const v = input.get();
      if (v === undefined) return;
      saveBtn.disabled = true;
      fill(formErr);
      try {
        const res = await post("/api/update", { schema: view.meta.schema, table: view.meta.name, key: r.key, values: { [col.name]: v }, original: { [col.name]: seen } });
        closePopover();
        const fresh = gridRow(view, res.row, view.fkByFirst, view.updateDel);
        r.tr.replaceWith(fresh);
        const idx = view.page.rows.indexOf(r);
        if (idx >= 0) view.page.rows[idx] = res.row;
        const cell = fresh.querySelector(`td[data-column="${CSS.escape(col.name)}"]`);
        if (cell) cell.classList.add("saved");
        toast(`saved ${col.name}`);
      } catch (e) {
        saveBtn.disabled = false;
        if (e.status === 409 && e.body && e.body.row) {
          // Changed by someone else: show the row as it is now, keep this edit open.
          const fresh = gridRow(view, e.body.row, view.fkByFirst, view.updateDel);
          r.tr.replaceWith(fresh);
          const idx = view.page.rows.indexOf(r);
          if (idx >= 0) view.page.rows[idx] = e.body.row;
          r = e.body.row;
          seen = (r.cut || []).includes(i) ? undefined : r.cells[i];
          if (seen === undefined) {
            try { seen = (await api("/api/row", { schema: view.meta.schema, table: view.meta.name, key: r.key })).cells[i]; }
            catch (e2) { seen = null; }
          }
          const shown = seen === null ? "NULL" : (typeof seen === "string" ? seen : JSON.stringify(seen));
          input.error(`${e.message}. ${col.name} is now: ${shown}. Save again to replace it.`);
          toast(e.message, true);
          return;
        }
        const fields = (e.body && e.body.fields) || {};
        if (fields[col.name]) input.error(fields[col.name] + (e.body.detail ? "\n" + e.body.detail : ""));
        else { input.error(e.message + (e.body && e.body.detail ? "\n" + e.body.detail : "")); }
      }
    };
    const input = valueInput(col, value, { onEnter: save });
    const formErr = h("div");
    const saveBtn = h("button", { type: "button", class: "primary", id: "cell-save", onclick: save }, "Save");
    popover = h("div", { class: "popover", id: "cell-editor", role: "dialog" },
      h("div", { class: "head" }, `${view.meta.name}.${col.name}`, h("span", { class: "type" }, `row ${r.key.join(", ")}`)),
      input.el, formErr,
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: closePopover }, "Cancel"), saveBtn));
    document.body.append(popover);
    const rect = td.getBoundingClientRect();
    const pw = popover.offsetWidth;
    popover.style.left = Math.max(8, Math.min(rect.left, window.innerWidth - pw - 8)) + "px";
    const below = rect.bottom + 4;
    popover.style.top = (below + popover.offsetHeight > window.innerHeight ? Math.max(8, rect.top - popover.offsetHeight - 4) : below) + "px";
    input.focus();
  }

  function openDialog(...content) {
    const overlay = $("#overlay");
    fill(overlay, h("div", { class: "dialog", role: "dialog" }, ...content));
    overlay.hidden = false;
    overlay.onmousedown = (e) => { if (e.target === overlay) closeDialog(); };
  }
  function closeDialog() { const o = $("#overlay"); o.hidden = true; fill(o); }

  function insertDialog(meta) {
    const inputs = meta.columns.filter((c) => c.insertable).map((c) => {
      const hasDefault = c.default !== null || c.identity !== null;
      const inp = valueInput(c, hasDefault ? "" : (c.nullable ? null : ""), { allowDefault: hasDefault, useDefault: hasDefault });
      inp.required = c.required;
      if (c.required) { inp.el.classList.add("required"); inp.el.title = "NOT NULL without a default: a value is needed"; }
      return inp;
    });
    const skipped = meta.columns.filter((c) => !c.insertable);
    const formErr = h("div", { class: "form-error" });
    const submit = async () => {
      const values = {};
      let ok = true;
      for (const inp of inputs) {
        if (inp.useDefault()) continue;
        const v = inp.get();
        // an empty field is NULL or the column's default, never an empty string
        if (v === undefined) ok = false;
        else if (v === "" || v === null) { if (inp.required) { inp.error("required: NOT NULL without a default"); ok = false; } }
        else values[inp.column] = v;
      }
      if (!ok) { fill(formErr, h("div", { class: "notice error" }, "Fill in the required fields: " + inputs.filter((i) => i.required).map((i) => i.column).join(", "))); return; }
      fill(formErr);
      try {
        await post("/api/insert", { schema: meta.schema, table: meta.name, values });
        closeDialog();
        toast("row inserted");
        refreshAfterWrite();
      } catch (e) {
        const fields = (e.body && e.body.fields) || {};
        for (const inp of inputs) inp.error(fields[inp.column] || "");
        fill(formErr, errorNotice(e));
      }
    };
    openDialog(h("h3", null, `Add a row to ${meta.schema}.${meta.name}`), formErr,
      h("form", { id: "insert-form", onsubmit: (e) => { e.preventDefault(); submit(); } }, inputs.map((i) => i.el)),
      skipped.length ? h("p", { class: "muted small" }, "Set by the database: " + skipped.map((c) => c.name).join(", ")) : null,
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: closeDialog }, "Cancel"),
        h("button", { type: "button", class: "primary", id: "insert-save", onclick: submit }, "Insert")));
    if (inputs[0]) inputs.find((i) => !i.useDefault())?.focus();
  }

  function deleteDialog(view) {
    const keys = Array.from(view.selected).map((k) => JSON.parse(k));
    if (!keys.length) return;
    const formErr = h("div");
    const impact = h("div", { id: "delete-impact" }, h("p", { class: "muted" }, "Counting what else this deletes…"));
    openDialog(h("h3", null, `Delete ${plural(keys.length, "row")} from ${view.meta.schema}.${view.meta.name}?`),
      impact,
      h("p", null, "All of them are deleted in one transaction, or none. This cannot be undone."), formErr,
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: closeDialog }, "Cancel"),
        h("button", { type: "button", class: "danger primary", id: "delete-confirm", onclick: async () => {
          try {
            const res = await post("/api/delete", { schema: view.meta.schema, table: view.meta.name, keys });
            closeDialog();
            toast(`deleted ${plural(res.deleted, "row")}`);
            refreshAfterWrite();
          } catch (e) { fill(formErr, errorNotice(e)); }
        } }, "Delete")));
    api("/api/delete-impact", { schema: view.meta.schema, table: view.meta.name, keys }).then((r) => {
      if (r.deletes === null) { fill(impact, h("p", { class: "muted" }, `Could not count what else this deletes (${r.error}).`)); return; }
      const more = r.at_least ? " at least" : "";
      fill(impact,
        r.deletes.map((d) => h("div", { class: "notice error cascade" }, `also deletes${more} ${fmt(d.rows)} row${d.rows === 1 ? "" : "s"} of ${d.schema}.${d.table} (ON DELETE CASCADE)`)),
        r.sets_null.map((d) => h("div", { class: "notice" }, `sets ${d.column} to ${d.action === "set null" ? "NULL" : "its default"} in ${plural(d.rows, "row")} of ${d.schema}.${d.table}`)),
        r.blocked_by.map((d) => h("div", { class: "notice error" }, `${plural(d.rows, "row")} of ${d.schema}.${d.table} (${d.columns.join(", ")}) reference these rows: the database refuses this delete (${d.constraint})`)),
        !r.deletes.length && !r.sets_null.length && !r.blocked_by.length ? h("p", { class: "muted" }, "Nothing else is deleted or changed.") : null);
    }).catch((e) => fill(impact, errorNotice(e)));
  }

  async function refreshAfterWrite() {
    // the table list first: the title's row count comes from it
    try { await loadTables(false); } catch (e) { /* the page says so on its own */ }
    route();
  }

  // -- the SQL console ------------------------------------------------------------------------

  function showConsole(params) {
    const text = params.get("q") || "";
    const offset = Number(params.get("offset") || 0) || 0;
    const area = h("textarea", { id: "console-sql", spellcheck: "false", "aria-label": "SQL" }, text);
    const out = h("div", { id: "console-result" });
    const go = (off) => { location.hash = "#/sql?" + new URLSearchParams({ q: area.value, offset: String(off) }).toString(); };
    area.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); go(0); } });
    fill($("#main"), h("h1", null, "SQL"),
      h("p", { class: "muted" }, "One statement, run in a read-only transaction that is always rolled back: nothing here changes the database. Ctrl+Enter runs it."),
      area, h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", id: "console-run", onclick: () => go(0) }, "Run")), out);
    if (!text.trim()) return;
    fill(out, h("p", { class: "muted" }, "Running…"));
    post("/api/console", { sql: text, offset, limit: 50 }).then((r) => {
      const pager = h("div", { class: "pager" },
        h("button", { type: "button", id: "console-prev", disabled: !r.has_prev, onclick: () => go(Math.max(0, offset - 50)) }, "◀ Prev"),
        h("span", { class: "where" }, r.rows.length ? `rows ${fmt(offset + 1)}–${fmt(offset + r.rows.length)}` : (r.status || "no rows")),
        h("button", { type: "button", id: "console-next", disabled: !r.has_next, onclick: () => go(offset + 50) }, "Next ▶"),
        h("span", { class: "muted small" }, `${r.ms} ms`));
      fill(out, pager, r.columns.length ? h("div", { class: "grid-wrap" }, h("table", { class: "grid", id: "console-grid" },
        h("thead", null, h("tr", null, r.columns.map((c) => h("th", null, h("span", { class: "cname" }, c.name), h("span", { class: "type" }, c.type))))),
        h("tbody", null, r.rows.map((row) => h("tr", null, row.map((v) => h("td", { class: v === null ? "null" : "" }, v === null ? "NULL" : v))))))) : null);
    }).catch((e) => {
      const b = e.body || {};
      let where = null;
      if (b.position) {
        const before = text.slice(0, b.position - 1);
        const line = before.split("\n").length;
        const col = b.position - before.lastIndexOf("\n") - 1;
        const src = text.split("\n")[line - 1];
        where = h("div", { class: "caret" }, `line ${line}, column ${col}:\n${src}\n${" ".repeat(Math.max(0, col - 1))}^`);
        area.focus();
        area.setSelectionRange(b.position - 1, b.position);
      }
      fill(out, h("div", { class: "console-error" }, errorNotice(e), where));
    });
  }

  // -- one row, and what references it ---------------------------------------------------------

  function closeDrawer() { const d = $("#drawer"); d.hidden = true; fill(d); }

  async function openRow(meta, key) {
    const drawer = $("#drawer");
    drawer.hidden = false;
    fill(drawer, h("p", { class: "muted" }, "Loading…"));
    let data;
    try { data = await api("/api/row", { schema: meta.schema, table: meta.name, key }); }
    catch (e) { fill(drawer, h("button", { class: "close", onclick: closeDrawer }, "✕"), errorNotice(e)); return; }
    const byName = new Map(meta.columns.map((c, i) => [c.name, data.cells[i]]));
    const kv = h("div", { class: "kv" });
    meta.columns.forEach((c, i) => {
      const v = data.cells[i];
      let text = cellText(c, v);
      if (c.category === "json" && text !== null) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* as is */ } }
      kv.append(h("div", { class: "k", title: c.type }, c.name), h("div", { class: "v" + (text === null ? " null" : "") }, text === null ? "NULL" : text));
    });
    const out = meta.fks_out.map((fk) => {
      const values = fk.columns.map((c) => byName.get(c));
      if (!values.every((x) => typeof x === "string")) return h("li", { class: "muted" }, `${fk.columns.join(", ")} → ${fk.ref_schema}.${fk.ref_table} (NULL)`);
      return h("li", null, h("a", { class: "ref-out", href: tableHash(fk.ref_schema, fk.ref_table, { f: fk.ref_columns.map((rc, k) => ({ column: rc, op: "eq", value: values[k] })) }), onclick: closeDrawer },
        `${fk.columns.join(", ")} → ${fk.ref_schema}.${fk.ref_table} (${values.join(", ")})`));
    });
    const inbound = data.refs_in.map((ref) => {
      const n = ref.rows === null ? "?" : (ref.at_least ? "more than 1,000" : fmt(ref.rows));
      const label = `${ref.schema}.${ref.table} (${ref.columns.join(", ")}): ${n} row${ref.rows === 1 ? "" : "s"}`;
      if (!ref.values.every((x) => typeof x === "string")) return h("li", { class: "muted" }, label);
      return h("li", null, h("a", { class: "ref-in", href: tableHash(ref.schema, ref.table, { f: ref.columns.map((c, k) => ({ column: c, op: "eq", value: ref.values[k] })) }), onclick: closeDrawer }, label));
    });
    fill(drawer, h("button", { type: "button", class: "close", onclick: closeDrawer }, "✕"),
      h("h3", null, `${meta.schema}.${meta.name}`), h("div", { class: "muted small" }, `key: ${key.join(", ")}`), kv,
      out.length ? [h("h4", null, "References"), h("ul", { class: "refs" }, out)] : null,
      inbound.length ? [h("h4", null, "Referenced by"), h("ul", { class: "refs", id: "refs-in" }, inbound)] : null);
  }

  // -- structure ------------------------------------------------------------------------------

  function showStructure(meta, body) {
    const colRows = meta.columns.map((c) => h("tr", null,
      h("td", null, c.name, c.pk ? h("span", { class: "tag" }, "PK") : null), h("td", { class: "mono" }, c.type), h("td", null, c.nullable ? "" : "NOT NULL"),
      h("td", { class: "mono" }, c.generated ? `GENERATED ALWAYS AS ${c.generated}` : c.identity ? `identity (${c.identity})` : (c.default || "")),
      h("td", null, c.comment || "")));
    const kinds = { p: "primary key", u: "unique", f: "foreign key", c: "check", x: "exclusion" };
    fill(body,
      h("h2", null, "Columns"),
      h("table", { class: "plain", id: "structure-columns" }, h("thead", null, h("tr", null, ["name", "type", "null", "default", "comment"].map((x) => h("th", null, x)))), h("tbody", null, colRows)),
      meta.definition ? [h("h2", null, "Definition"), h("pre", { class: "mono" }, meta.definition)] : null,
      meta.constraints.length ? [h("h2", null, "Constraints"), h("table", { class: "plain" }, h("tbody", null, meta.constraints.map((c) =>
        h("tr", null, h("td", null, c.name), h("td", null, kinds[c.kind] || c.kind), h("td", { class: "mono" }, c.definition + (c.validated ? "" : " NOT VALID")), h("td", null, c.comment || "")))))] : null,
      meta.indexes.length ? [h("h2", null, "Indexes"), h("table", { class: "plain" }, h("tbody", null, meta.indexes.map((i) =>
        h("tr", null, h("td", null, i.name), h("td", { class: "mono" }, i.definition), h("td", null, i.comment || "")))))] : null,
      meta.triggers.length ? [h("h2", null, "Triggers"), h("ul", null, meta.triggers.map((t) => h("li", { class: "mono" }, t.definition)))] : null,
      meta.policies.length ? [h("h2", null, "Policies" + (meta.rls ? " (row security on)" : "")), h("ul", null, meta.policies.map((p) => h("li", { class: "mono" }, `${p.name}: ${p.command} USING ${p.using || "-"} WITH CHECK ${p.with_check || "-"}`)))] : null,
      meta.fks_in.length ? [h("h2", null, "Referenced by"), h("ul", null, meta.fks_in.map((f) => h("li", null,
        h("a", { href: tableHash(f.schema, f.table) }, `${f.schema}.${f.table}`), ` (${f.columns.join(", ")}) → (${f.ref_columns.join(", ")}) `, h("span", { class: "muted" }, f.name))))] : null,
      meta.partition_key ? h("p", null, "Partitioned by ", h("code", null, meta.partition_key)) : null,
      meta.partition_of ? h("p", null, "Partition of ", h("code", null, meta.partition_of)) : null);
  }

  // -- trimtab's view -------------------------------------------------------------------------

  let insightTimer = null;
  // The server holds the request up to a second while the comparison runs: the result
  // shows the moment it is there, and the "comparing… N s" line still ticks.
  async function insight(refresh) {
    const data = await api("/api/trimtab", { refresh: refresh ? "1" : "", wait: "1" });
    S.insight = data;
    return data;
  }
  function pendingFor(meta) {
    const plan = S.insight && S.insight.plan;
    if (!plan || !plan.ok) return 0;
    return plan.changes.filter((c) => touches(c, meta)).length;
  }
  function touches(change, meta) {
    if (change.table) return change.table[0] === meta.schema && change.table[1] === meta.name;
    return false;
  }

  function changeBox(c) {
    return h("div", { class: "change" + (c.data_loss ? " loss" : "") },
      h("div", { class: "desc" }, c.description, c.data_loss ? h("span", { class: "sev error loss-tag" }, "data loss") : null),
      c.hazards.map((hz) => h("div", { class: "hazard" }, h("span", { class: "sev " + hz.severity }, hz.severity),
        hz.message + (hz.detail ? `: ${hz.detail}` : ""), h("span", { class: "muted small" }, ` [${hz.code}]`),
        hz.fix ? h("div", { class: "muted small" }, "safer: " + hz.fix) : null)),
      c.sql.length ? h("pre", null, c.sql.map((s) => s + ";").join("\n")) : null);
  }

  function planSection(plan, filter, title) {
    if (!plan) return h("p", { class: "muted" }, "…");
    if (!plan.ok) return h("div", { class: "notice error", id: "plan-error" }, `The schema file cannot be compared: ${plan.error}`,
      plan.file ? h("div", { class: "small" }, `${plan.file}${plan.line ? ":" + plan.line : ""}`) : null,
      plan.hint ? h("div", { class: "small" }, "hint: " + plan.hint) : null);
    const changes = plan.changes.filter(filter);
    return h("div", { id: "plan" },
      changes.length ? h("div", { class: "notice" }, `${plural(changes.length, "pending change")}${title ? " " + title : ""}: `, h("code", null, "trimtab push"), ` would apply ${changes.length === 1 ? "it" : "them"}.`)
        : h("div", { class: "notice ok" }, `No pending change${title ? " " + title : ""}: the database matches the schema file.`),
      changes.map(changeBox),
      (plan.rename_candidates || []).map((r) => h("div", { class: "notice" }, `possible rename: ${r.text || JSON.stringify(r)}`)),
      (plan.notes || []).map((n) => h("div", { class: "muted small" }, "note: " + n)));
  }

  function statusSection(status, meta) {
    if (!status) return h("p", { class: "muted" }, "…");
    const parts = [];
    if (!status.ok) parts.push(h("div", { class: "notice error" }, `Migrations status is incomplete: ${status.error}`));
    if (status.note) parts.push(h("p", { class: "muted" }, status.note));
    if (status.migrations) {
      parts.push(h("p", { id: "migrations-summary" }, `${plural(status.migrations, "migration")} in ${status.folder}: `,
        `${fmt((status.applied || []).length)} applied, ${fmt((status.pending || []).length)} pending.`));
      if ((status.pending || []).length) parts.push(h("ul", { class: "lines" }, status.pending.map((n) => h("li", null, "pending: ", h("code", null, n)))));
      if ((status.problems || []).length) parts.push(h("ul", { class: "lines" }, status.problems.map((p) => h("li", { class: "sev error" }, p))));
      if (status.drift) {
        let drift = status.drift;
        if (meta) drift = drift.filter((line) => line.includes(`${meta.schema}.${meta.name}`));
        parts.push(drift.length ? h("div", { class: "notice error", id: "drift" }, h("b", null, "Drift: "), "the database differs from what its applied migrations made:", h("ul", { class: "lines" }, drift.map((d) => h("li", null, d))))
          : h("div", { class: "notice ok", id: "drift" }, meta ? "No drift on this table." : "No drift: the database is what its applied migrations made."));
      }
      if (status.not_in_a_migration) {
        const unmigrated = meta ? status.not_in_a_migration.filter((c) => touches(c, meta)) : status.not_in_a_migration;
        if (unmigrated.length) parts.push(h("div", { id: "unmigrated" }, h("p", null, `${plural(unmigrated.length, "change")} in the schema file ${unmigrated.length === 1 ? "is" : "are"} in no migration yet (`, h("code", null, "trimtab generate"), " writes one):"),
          h("ul", { class: "lines" }, unmigrated.map((c) => h("li", null, c.description)))));
      }
    }
    return h("div", { id: "status" }, parts);
  }

  async function withInsight(seq, draw) {
    clearTimeout(insightTimer);
    const tick = async (refresh) => {
      let data;
      try { data = await insight(refresh); } catch (e) { if (!stale(seq)) draw(null, e); return; }
      if (stale(seq)) return;
      draw(data, null);
      if (data.state === "running") insightTimer = setTimeout(() => tick(false), 0);
    };
    await tick(false);
    return () => tick(true);
  }

  async function showTableInsight(meta, body, seq) {
    const box = h("div");
    let refresh = null;
    fill(body, h("div", { class: "toolbar" }, h("span", { class: "muted" }, "What trimtab knows about this table: the schema file, the migrations, the database."),
      h("span", { class: "spacer" }), h("button", { type: "button", id: "insight-refresh", onclick: () => refresh && refresh() }, "Compare again")), box);
    refresh = await withInsight(seq, (data, e) => {
      if (e) { fill(box, errorNotice(e)); return; }
      fill(box,
        data.state === "running" ? h("p", { class: "muted spinner" }, `comparing with the schema file… ${data.running_for || 0} s`) : null,
        h("h2", null, "Schema file → database"), planSection(data.plan, (c) => touches(c, meta), "for this table"),
        h("h2", null, "Migrations"), statusSection(data.status, meta));
    });
  }

  async function showTrimtab(seq) {
    const main = $("#main");
    const box = h("div");
    let refresh = null;
    fill(main, h("div", { class: "title-row" }, h("h1", null, "Schema & migrations"),
      h("span", { class: "spacer" }), h("button", { type: "button", id: "insight-refresh", onclick: () => refresh && refresh() }, "Compare again")),
      h("p", { class: "muted" }, "The schema file ", h("code", null, S.info.schema_file), " against the database, the way ",
        h("code", null, "trimtab push --dry-run"), " and ", h("code", null, "trimtab status"), " see them. Nothing is changed here."), box);
    refresh = await withInsight(seq, (data, e) => {
      if (e) { fill(box, errorNotice(e)); return; }
      fill(box,
        data.state === "running" ? h("p", { class: "muted spinner" }, `comparing… ${data.running_for || 0} s`) : null,
        h("h2", null, "Pending changes (schema file → database)"), planSection(data.plan, () => true, ""),
        h("h2", null, "Migrations and drift"), statusSection(data.status, null),
        data.seconds ? h("p", { class: "muted small" }, `computed in ${data.seconds} s`) : null);
      renderSidebar();
    });
  }

  /* trimtab's view is computed once in the background when the studio opens; the table
     tabs show how many pending changes touch each table once it is there. */
  async function pollInsight() {
    let data;
    try { data = await insight(false); } catch (e) { return; }
    if (data.state === "running") { setTimeout(pollInsight, 0); return; }
    const tab = $('.tabs a[data-tab="trimtab"]');
    if (tab && S.route && S.route.parts[0] === "t") {
      const meta = S.meta.get(S.route.parts[1] + "\u0000" + S.route.parts[2]);
      const n = meta ? pendingFor(meta) : 0;
      if (n && !$(".count", tab)) tab.append(h("span", { class: "count" }, String(n)));
    }
  }

  // -- start ----------------------------------------------------------------------------------

  async function start() {
    try {
      S.info = await api("/api/info");
    } catch (e) {
      fill($("#main"), errorNotice(e));
      return;
    }
    renderHeader();
    $("#table-search").addEventListener("input", renderSidebar);
    $("#reload").addEventListener("click", async () => {
      S.meta.clear();
      try { await loadTables(true); } catch (e) { toast(e.message, true); }
      route();
    });
    window.addEventListener("hashchange", () => { closeDrawer(); route(); });
    try { await loadTables(false); } catch (e) { fill($("#main"), errorNotice(e)); return; }
    pollInsight();
    route();
  }
  start();
})();
