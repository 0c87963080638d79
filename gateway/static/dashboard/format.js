// Formatting and DOM helpers shared by the dashboard's modules (no data is ever parsed as HTML).

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compactNumber = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

/** Build an element: h("td", {class: "num"}, "12"). Children are text or nodes; null is skipped. */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "line", "path", "text", "title", "circle", "polyline"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Name each cell after its column, so that a phone can show table rows as cards (see style.css). */
export function labelCells(row, heads) {
  [...row.children].forEach((cell, i) => cell.setAttribute("data-label", heads[i] || ""));
}

export const fmtInt = (n) => (n === null || n === undefined ? "–" : integer.format(n));
export const fmtCompact = (n) => (n === null || n === undefined ? "–" : Math.abs(n) < 10000 ? integer.format(n) : compactNumber.format(n));

export function fmtUsd(usd) {
  if (usd === null || usd === undefined || Number.isNaN(usd)) return "–";
  const abs = Math.abs(usd);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 4 : abs < 1 ? 3 : 2;
  return "$" + usd.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${integer.format(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function fmtPercent(part, whole) {
  if (!whole) return "0%";
  const pct = (100 * part) / whole;
  return pct > 0 && pct < 0.1 ? "<0.1%" : `${pct.toFixed(pct < 10 ? 1 : 0)}%`;
}

const pad = (n) => String(n).padStart(2, "0");

/** Unix seconds as local "YYYY-MM-DD HH:MM:SS". */
export function fmtTime(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** An ISO instant relative to now: "in 12 s", "3 min ago". */
export function fmtRelative(iso, now = Date.now()) {
  if (!iso) return "–";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(seconds);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

/** "2026-01-31" as "Jan 31". */
export function fmtDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/** The calendar day of a unix time in an IANA zone, as YYYY-MM-DD. */
export function dayIn(seconds, zone) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone || "UTC", year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date(seconds * 1000));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** Every day from `first` to `last` (YYYY-MM-DD, inclusive). */
export function daysBetween(first, last) {
  const out = [];
  const [y, m, d] = first.split("-").map(Number);
  const cursor = new Date(Date.UTC(y, m - 1, d));
  for (let i = 0; i < 400; i++) {
    const day = cursor.toISOString().slice(0, 10);
    out.push(day);
    if (day >= last) break;
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return out;
}
