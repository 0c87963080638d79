// The log table: filters (token, model, channel, outcome, time range), cursor paging and CSV export.
// A token holder's table (admin false) reads their own rows and shows neither token nor channel.

import { clear, fmtInt, fmtMs, fmtTime, fmtUsd, h, labelCells } from "./format.js";

const PAGE_SIZE = 25;
const OUTCOME_TONES = { ok: "green", error: "red", cancelled: "amber", abandoned: "grey" };

/** Unix seconds of a datetime-local value (the browser's time zone), or "" when empty. */
function seconds(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? "" : Math.floor(ms / 1000);
}

function timestampName(now = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}`;
}

export class LogView {
  /** `api`: a client; `path`: the logs endpoint; `admin`: show the token column and filter. */
  constructor({ api, path, admin, rate, onError }) {
    this.api = api;
    this.path = path;
    this.admin = admin;
    this.rate = rate;
    this.onError = onError;
    this.form = document.getElementById("log-filters");
    this.table = document.getElementById("log-table");
    this.cursors = [null]; // the cursor that opened each page seen so far; the last one is shown
    this.next = null;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.reload();
    });
    this.form.addEventListener("reset", () => setTimeout(() => this.reload(), 0));
    this.older = document.getElementById("older");
    this.newer = document.getElementById("newer");
    this.older.addEventListener("click", () => this.page(+1));
    this.newer.addEventListener("click", () => this.page(-1));
    document.getElementById("export-csv").addEventListener("click", () => this.exportCsv());
  }

  /** Offer these names in the token, channel and model filters (keeping what is selected). */
  setChoices({ tokens = [], channels = [], models = [] }) {
    const fill = (select, names) => {
      const keep = select.value;
      clear(select).append(h("option", { value: "" }, "any"), ...names.map((n) => h("option", { value: n }, n)));
      select.value = names.includes(keep) ? keep : "";
    };
    fill(this.form.elements.token, tokens);
    fill(this.form.elements.channel, channels);
    clear(document.getElementById("model-names")).append(...models.map((m) => h("option", { value: m })));
  }

  filters() {
    const f = this.form.elements;
    return {
      token: this.admin ? f.token.value : "", model: f.model.value.trim(), channel: this.admin ? f.channel.value : "",
      outcome: f.outcome.value, since: seconds(f.since.value), until: seconds(f.until.value),
    };
  }

  async reload() {
    this.cursors = [null];
    await this.show();
  }

  async page(step) {
    if (step > 0 && this.next !== null) this.cursors.push(this.next);
    if (step < 0 && this.cursors.length > 1) this.cursors.pop();
    await this.show();
  }

  async show() {
    const cursor = this.cursors[this.cursors.length - 1];
    let page;
    try {
      page = await this.api.json(this.path, { ...this.filters(), limit: PAGE_SIZE, cursor });
    } catch (err) {
      this.onError(err);
      return;
    }
    this.next = page.next_cursor ?? null;
    this.render(page.data || []);
    const first = (this.cursors.length - 1) * PAGE_SIZE;
    document.getElementById("page-info").textContent = page.data.length
      ? `rows ${fmtInt(first + 1)}–${fmtInt(first + page.data.length)}` : "no rows";
    this.newer.disabled = this.cursors.length <= 1;
    this.older.disabled = this.next === null;
    this.table.dataset.loads = String(Number(this.table.dataset.loads || 0) + 1);
  }

  render(rows) {
    const heads = ["Time", this.admin ? "Token" : null, "Model", this.admin ? "Channel" : null, "Status", "Outcome", "Prompt", "Output", "Cost", "Duration", "Error"]
      .filter((x) => x !== null);
    const numeric = new Set(["Status", "Prompt", "Output", "Cost", "Duration"]);
    clear(this.table).append(h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { class: numeric.has(t) ? "num" : null }, t)))));
    const body = h("tbody");
    for (const r of rows) {
      const row = h("tr", { "data-id": r.id, "data-token": r.token, "data-model": r.model, "data-channel": this.admin ? r.channel : null, "data-outcome": r.outcome });
      const mapped = r.upstream_model && r.upstream_model !== r.model ? h("div", { class: "sub" }, `→ ${r.upstream_model}`) : null;
      const flags = [r.stream ? "stream" : null, r.usage_estimated ? "estimated" : null].filter(Boolean).join(" · ");
      row.append(
        h("td", { class: "nowrap time-cell" }, fmtTime(r.time)),
        this.admin ? h("td", { class: "nowrap" }, r.token) : null,
        h("td", { class: "nowrap" }, r.model, mapped),
        this.admin ? h("td", { class: "nowrap" }, r.channel || "–") : null,
        h("td", { class: "num" }, r.status || "–"),
        h("td", {}, h("span", { class: `badge ${OUTCOME_TONES[r.outcome] || "grey"}` }, r.outcome), flags ? h("div", { class: "sub" }, flags) : null),
        h("td", { class: "num" }, fmtInt(r.prompt_tokens), r.cached_tokens ? h("div", { class: "sub" }, `${fmtInt(r.cached_tokens)} cached`) : null),
        h("td", { class: "num" }, fmtInt(r.completion_tokens)),
        h("td", { class: "num" }, fmtInt(r.quota), this.rate && r.quota ? h("div", { class: "sub" }, fmtUsd(r.quota / this.rate)) : null),
        h("td", { class: "num nowrap" }, fmtMs(r.request_time_ms), r.first_byte_ms !== null && r.first_byte_ms !== undefined ? h("div", { class: "sub" }, `first byte ${fmtMs(r.first_byte_ms)}`) : null),
        h("td", { class: r.error ? "error-cell" : "error-cell none", title: r.error || "" }, r.error || ""));
      labelCells(row, heads);
      body.append(row);
    }
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: heads.length, class: "muted empty-row" }, "No calls match these filters")));
    this.table.append(body);
  }

  async exportCsv() {
    let blob;
    try {
      blob = await this.api.blob(this.path, { ...this.filters(), format: "csv" });
    } catch (err) {
      this.onError(err);
      return;
    }
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `gateway-logs-${timestampName()}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
}
