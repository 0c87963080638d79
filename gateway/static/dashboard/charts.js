// Charts drawn as inline SVG: stacked daily bars and daily lines, with a shared hover tooltip.
// Every mark carries data-day, data-series and data-value, so what is drawn can be checked against the API.

import { clear, fmtDay, h } from "./format.js";

export const PALETTE = ["#4c6ef5", "#12b886", "#f59f00", "#e64980", "#7950f2", "#15aabf", "#fd7e14", "#82c91e"];
export const OTHER_COLOR = "#adb5bd";
const HEIGHT = 210;
const MARGIN = { top: 12, right: 10, bottom: 24, left: 54 };

/** Steps of 1, 2, 2.5 or 5 × 10^k giving about `count` gridlines from 0 to at least `max`. */
export function niceTicks(max, count = 4, integers = false) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  let step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
  if (integers) step = Math.max(1, Math.ceil(step));
  const ticks = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function frame(el, days, ticks, formatAxis) {
  const width = Math.max(260, Math.floor(el.clientWidth || 600));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = ticks[ticks.length - 1];
  const band = plotW / Math.max(1, days.length);
  const geometry = {
    width, plotW, plotH, band,
    x: (i) => MARGIN.left + i * band,
    y: (v) => MARGIN.top + plotH - (Math.max(0, v) / top) * plotH,
  };
  const svg = h("svg", { class: "chart-svg", width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img" });
  const grid = h("g", { class: "grid" });
  for (const tick of ticks) {
    const y = geometry.y(tick);
    grid.append(h("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }));
    grid.append(h("text", { x: MARGIN.left - 8, y: y + 4, "text-anchor": "end", class: "axis" }, formatAxis(tick)));
  }
  const every = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor(plotW / 64))));
  days.forEach((day, i) => {
    if ((days.length - 1 - i) % every !== 0) return; // keep the newest day labelled
    grid.append(h("text", { x: geometry.x(i) + band / 2, y: HEIGHT - 6, "text-anchor": "middle", class: "axis" }, fmtDay(day)));
  });
  svg.append(grid);
  return { svg, geometry };
}

function hitAreas(svg, days, geometry, describe) {
  const layer = h("g", { class: "hits" });
  days.forEach((day, i) => {
    const area = h("rect", {
      x: geometry.x(i), y: MARGIN.top, width: geometry.band, height: geometry.plotH, class: "hit", "data-day": day,
    });
    const show = (event) => showTooltip(event, fmtDay(day), describe(i));
    area.addEventListener("pointerenter", show);
    area.addEventListener("pointermove", show);
    area.addEventListener("pointerleave", hideTooltip);
    layer.append(area);
  });
  svg.append(layer);
}

function emptyNote(svg, geometry, text) {
  svg.append(h("text", { x: MARGIN.left + geometry.plotW / 2, y: MARGIN.top + geometry.plotH / 2, "text-anchor": "middle", class: "empty" }, text));
}

/**
 * Daily bars stacked by series. `series`: [{name, color, values: [number per day]}].
 * `format` labels a value (tooltip), `formatAxis` a gridline; `integers` keeps gridlines whole.
 */
export function stackedBars(el, { days, series, format, formatAxis = format, integers = false }) {
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const ticks = niceTicks(Math.max(0, ...totals), 4, integers);
  const { svg, geometry } = frame(clear(el), days, ticks, formatAxis);
  const barW = Math.max(2, Math.min(44, geometry.band * 0.66));
  const bars = h("g", { class: "bars" });
  days.forEach((day, i) => {
    let base = 0;
    for (const s of series) {
      const value = s.values[i] || 0;
      if (value <= 0) continue;
      const y1 = geometry.y(base + value);
      const y0 = geometry.y(base);
      const rect = h("rect", {
        x: geometry.x(i) + (geometry.band - barW) / 2, y: y1, width: barW, height: Math.max(1, y0 - y1),
        fill: s.color, class: "bar", "data-day": day, "data-series": s.name, "data-value": value,
      });
      bars.append(rect);
      base += value;
    }
  });
  svg.append(bars);
  if (!totals.some((t) => t > 0)) emptyNote(svg, geometry, "No calls in this period");
  hitAreas(svg, days, geometry, (i) => {
    const rows = series.filter((s) => s.values[i] > 0).sort((a, b) => b.values[i] - a.values[i])
      .map((s) => ({ color: s.color, name: s.name, value: format(s.values[i]) }));
    if (rows.length > 1) rows.push({ color: null, name: "total", value: format(totals[i]) });
    return rows;
  });
  el.append(svg);
}

/** Daily lines; `null` values leave a gap. `series`: [{name, color, values, dashed}]. */
export function lines(el, { days, series, format, formatAxis = format }) {
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const ticks = niceTicks(Math.max(0, ...values), 4);
  const { svg, geometry } = frame(clear(el), days, ticks, formatAxis);
  const center = (i) => geometry.x(i) + geometry.band / 2;
  for (const s of series) {
    let d = "";
    let open = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        open = false;
        return;
      }
      d += `${open ? "L" : "M"}${center(i).toFixed(1)},${geometry.y(v).toFixed(1)}`;
      open = true;
    });
    const group = h("g", { class: s.dashed ? "series dashed" : "series" });
    if (d) group.append(h("path", { d, stroke: s.color, class: "line" }));
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      group.append(h("circle", {
        cx: center(i), cy: geometry.y(v), r: s.dashed ? 2 : 3, fill: s.color, class: "dot",
        "data-day": days[i], "data-series": s.name, "data-value": v,
      }));
    });
    svg.append(group);
  }
  if (!values.length) emptyNote(svg, geometry, "No successful calls in this period");
  hitAreas(svg, days, geometry, (i) => series.filter((s) => s.values[i] !== null && s.values[i] !== undefined)
    .map((s) => ({ color: s.color, name: s.name, value: format(s.values[i]) })));
  el.append(svg);
}

function showTooltip(event, title, rows) {
  const tip = document.getElementById("tooltip");
  clear(tip);
  tip.append(h("div", { class: "tip-title" }, title));
  if (!rows.length) tip.append(h("div", { class: "tip-row muted" }, "no calls"));
  for (const row of rows) {
    const swatch = h("span", { class: row.color ? "swatch" : "swatch none" });
    if (row.color) swatch.style.background = row.color;
    tip.append(h("div", { class: row.color ? "tip-row" : "tip-row total" }, swatch, h("span", { class: "tip-name" }, row.name), h("span", { class: "tip-value" }, row.value)));
  }
  tip.hidden = false;
  const pad = 12;
  const { innerWidth, innerHeight } = window;
  const rect = tip.getBoundingClientRect();
  let left = event.clientX + pad;
  if (left + rect.width > innerWidth - 4) left = Math.max(4, event.clientX - rect.width - pad);
  let top = event.clientY + pad;
  if (top + rect.height > innerHeight - 4) top = Math.max(4, event.clientY - rect.height - pad);
  tip.style.left = `${left}px`;
  tip.style.top = `${top}px`;
}

export function hideTooltip() {
  const tip = document.getElementById("tooltip");
  if (tip) tip.hidden = true;
}
