// The period at a glance: headline numbers, daily charts split by model, token or channel, top lists.

import { lines, OTHER_COLOR, PALETTE, stackedBars } from "./charts.js";
import { clear, fmtCompact, fmtDay, fmtInt, fmtMs, fmtPercent, fmtUsd, h } from "./format.js";

const MAX_SERIES = 6;
export const OTHER = "other";

/** The record's split value; calls that never reached a channel have an empty one. */
const keyOf = (record, by) => record[by] ?? "";

/** Sum the numeric fields of stat records per value of `key` (a split name, or "day"). */
export function sumBy(records, key) {
  const sums = new Map();
  for (const r of records) {
    const name = keyOf(r, key);
    const s = sums.get(name) || { name, requests: 0, errors: 0, quota: 0, prompt_tokens: 0, completion_tokens: 0 };
    s.requests += r.requests;
    s.errors += r.errors;
    s.quota += r.quota;
    s.prompt_tokens += r.prompt_tokens;
    s.completion_tokens += r.completion_tokens;
    sums.set(name, s);
  }
  return [...sums.values()].sort((a, b) => b.quota - a.quota || b.requests - a.requests || a.name.localeCompare(b.name));
}

/** The split's names in chart order (largest first), at most MAX_SERIES, the rest folded into OTHER. */
export function seriesNames(records, by) {
  const names = sumBy(records, by).map((s) => s.name);
  if (names.length <= MAX_SERIES) return { shown: names, folded: new Set() };
  return { shown: [...names.slice(0, MAX_SERIES - 1), OTHER], folded: new Set(names.slice(MAX_SERIES - 1)) };
}

export function colorsFor(names) {
  const colors = new Map();
  names.forEach((name, i) => colors.set(name, name === OTHER ? OTHER_COLOR : PALETTE[i % PALETTE.length]));
  return colors;
}

function perDay(records, by, days, names, folded, value) {
  const index = new Map(days.map((d, i) => [d, i]));
  const table = new Map(names.map((n) => [n, days.map(() => 0)]));
  for (const r of records) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    const name = folded.has(keyOf(r, by)) ? OTHER : keyOf(r, by);
    table.get(name)[i] += value(r);
  }
  return table;
}

function kpi(label, value, detail, id) {
  return h("div", { class: "card kpi", "data-kpi": id }, h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value" }, value), h("div", { class: "kpi-detail" }, detail || "\u00a0"));
}

/** Headline numbers for the period from the unsplit daily stats. */
export function renderKpis(el, { total, rate, daily }) {
  const latest = [...daily].reverse().find((r) => r.p95_ms !== null && r.p95_ms !== undefined);
  const periodWide = total.p95_ms !== undefined; // the API sums latency histograms over the period
  const usd = rate ? total.quota / rate : null;
  const tokens = total.prompt_tokens + total.completion_tokens;
  clear(el).append(
    kpi("Requests", fmtInt(total.requests), `${fmtInt(total.cancelled || 0)} cancelled by callers`, "requests"),
    kpi("Errors", fmtInt(total.errors), `${fmtPercent(total.errors, total.requests)} of requests`, "errors"),
    kpi("Cost", rate ? fmtUsd(usd) : `${fmtInt(total.quota)} quota`, rate ? `${fmtInt(total.quota)} quota` : "", "cost"),
    kpi("Tokens", fmtCompact(tokens), `${fmtCompact(total.prompt_tokens)} prompt · ${fmtCompact(total.completion_tokens)} output`, "tokens"),
    periodWide
      ? kpi("Latency p95", fmtMs(total.p95_ms), total.p50_ms === null ? "no successful calls" : `p50 ${fmtMs(total.p50_ms)} · successful calls`, "latency")
      : kpi("Latency p95", latest ? fmtMs(latest.p95_ms) : "–", latest ? `p50 ${fmtMs(latest.p50_ms)} · ${fmtDay(latest.day)}` : "no successful calls", "latency"),
  );
}

/** The four daily charts, split by `by`, plus their shared legend. */
export function renderCharts({ days, split, by, daily, rate, legend }) {
  const { shown, folded } = seriesNames(split, by);
  const colors = colorsFor(shown);
  const series = (value) => {
    const table = perDay(split, by, days, shown, folded, value);
    return shown.map((name) => ({ name, color: colors.get(name), values: table.get(name) }));
  };
  stackedBars(document.getElementById("chart-requests"), {
    days, series: series((r) => r.requests), format: fmtInt, formatAxis: fmtCompact, integers: true,
  });
  const toCost = rate ? (q) => q / rate : (q) => q;
  const costFormat = rate ? (v) => `${fmtUsd(v)} · ${fmtInt(Math.round(v * rate))} quota` : (v) => `${fmtInt(v)} quota`;
  stackedBars(document.getElementById("chart-cost"), {
    days, series: series((r) => toCost(r.quota)), format: costFormat, formatAxis: rate ? axisUsd : fmtCompact,
  });
  document.getElementById("cost-caption").textContent = rate ? "Cost per day (USD)" : "Cost per day (quota)";
  stackedBars(document.getElementById("chart-tokens"), {
    days, series: series((r) => r.prompt_tokens + r.completion_tokens), format: fmtInt, formatAxis: fmtCompact, integers: true,
  });
  const index = new Map(days.map((d, i) => [d, i]));
  const latency = shown.filter((n) => n !== OTHER).map((name) => {
    const values = days.map(() => null);
    for (const r of split) if (keyOf(r, by) === name && index.has(r.day)) values[index.get(r.day)] = r.p95_ms ?? null;
    return { name, color: colors.get(name), values };
  });
  const overall = days.map(() => null);
  for (const r of daily) if (index.has(r.day)) overall[index.get(r.day)] = r.p50_ms ?? null;
  latency.push({ name: "all · p50", color: "#495057", values: overall, dashed: true });
  lines(document.getElementById("chart-latency"), { days, series: latency, format: fmtMs, formatAxis: axisMs });

  clear(legend);
  for (const name of shown) {
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = colors.get(name);
    legend.append(h("span", { class: "legend-item", "data-series": name }, swatch, name || "(none)"));
  }
}

function axisMs(v) {
  if (v === 0) return "0";
  return v < 1000 ? `${v} ms` : `${Number((v / 1000).toFixed(2))} s`;
}

function axisUsd(v) {
  if (v === 0) return "$0";
  return v < 0.01 ? `$${v.toPrecision(1)}` : v < 10 ? `$${v.toFixed(2).replace(/0$/, "")}` : `$${fmtCompact(v)}`;
}

/** A ranked list: name, a share bar, requests and cost over the whole period. */
export function renderRanking(el, records, key, rate, limit = 8) {
  const ranked = sumBy(records, key).slice(0, limit);
  const top = ranked.length ? Math.max(ranked[0].quota, 1) : 1;
  const totalQuota = ranked.reduce((s, r) => s + r.quota, 0);
  clear(el);
  if (!ranked.length) {
    el.append(h("li", { class: "muted empty-row" }, "No calls in this period"));
    return;
  }
  for (const r of ranked) {
    const fill = h("span", { class: "fill" });
    fill.style.width = `${Math.max(1.5, (100 * r.quota) / top)}%`;
    el.append(h("li", { "data-name": r.name },
      h("div", { class: "rank-head" }, h("span", { class: "rank-name" }, r.name || "(none)"),
        h("span", { class: "rank-cost" }, rate ? fmtUsd(r.quota / rate) : `${fmtInt(r.quota)} quota`)),
      h("div", { class: "meter" }, fill),
      h("div", { class: "rank-meta muted" }, `${fmtInt(r.requests)} requests · ${fmtPercent(r.quota, totalQuota)} of cost · ${fmtCompact(r.prompt_tokens + r.completion_tokens)} tokens${r.errors ? ` · ${fmtInt(r.errors)} error${r.errors === 1 ? "" : "s"}` : ""}`)));
  }
}
