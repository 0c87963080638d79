// What the operator runs: each token's grant, use and remainder, and each channel's routing state.

import { clear, fmtInt, fmtMs, fmtPercent, fmtRelative, fmtUsd, h, labelCells } from "./format.js";

function quotaCell(quota, rate) {
  if (quota === null || quota === undefined) return h("td", { class: "num" }, "–");
  return h("td", { class: "num" }, fmtInt(quota), rate ? h("div", { class: "sub" }, fmtUsd(quota / rate)) : null);
}

/** A bar of used (solid) and held (light) against the grant; unlimited tokens get none. */
export function usageBar(token) {
  if (token.unlimited || !token.grant) {
    return h("div", { class: "usage unlimited" }, h("span", { class: "muted small" }, "unlimited"));
  }
  const used = Math.min(100, (100 * token.used) / token.grant);
  const held = Math.min(100 - used, (100 * token.held) / token.grant);
  const usedFill = h("span", { class: "fill" });
  usedFill.style.width = `${used}%`;
  const heldFill = h("span", { class: "fill held" });
  heldFill.style.width = `${held}%`;
  const level = used >= 90 ? "critical" : used >= 70 ? "warn" : "ok";
  return h("div", { class: `usage ${level}`, title: `${fmtPercent(token.used, token.grant)} used` },
    h("div", { class: "meter" }, usedFill, heldFill),
    h("span", { class: "small muted" }, `${fmtPercent(token.used, token.grant)} used`));
}

export function renderTokens(table, tokens, rate) {
  const heads = ["Token", "Group", "Grant", "Used", "Held", "Remaining", "Usage", "Requests", "Expires"];
  clear(table);
  table.append(h("thead", {}, h("tr", {},
    ...heads.map((t, i) =>
      h("th", { class: i >= 2 && i !== 6 && i !== 8 ? "num" : null }, t)))));
  const body = h("tbody");
  for (const t of tokens) {
    const badges = [];
    if (!t.enabled) badges.push(h("span", { class: "badge grey" }, "disabled"));
    if (t.in_config === false) badges.push(h("span", { class: "badge grey" }, "not in config"));
    if (t.expires_at && Date.parse(t.expires_at) < Date.now()) badges.push(h("span", { class: "badge red" }, "expired"));
    const row = h("tr", { "data-token": t.name },
      h("td", {}, h("strong", {}, t.name), " ", ...badges),
      h("td", {}, t.group ?? "–"),
      t.unlimited ? h("td", { class: "num muted" }, "unlimited") : quotaCell(t.grant, rate),
      quotaCell(t.used, rate),
      quotaCell(t.held, rate),
      t.unlimited ? h("td", { class: "num muted" }, "–") : quotaCell(t.remaining, rate),
      h("td", { class: "bar-cell" }, usageBar(t)),
      h("td", { class: "num" }, fmtInt(t.requests)),
      h("td", { class: "small" }, t.expires_at ? t.expires_at.slice(0, 10) : "never"));
    labelCells(row, heads);
    body.append(row);
  }
  if (!tokens.length) body.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No tokens configured")));
  table.append(body);
}

/** healthy | cooling | keys set aside | no usable key | disabled, worst first. */
export function channelState(c) {
  if (!c.enabled) return { label: "disabled", tone: "grey" };
  if (c.keys && c.keys.usable === 0) return { label: "no usable key", tone: "red" };
  if (c.keys && c.keys.set_aside.length) return { label: "keys set aside", tone: "orange" };
  if (c.cooldowns && c.cooldowns.length) return { label: "cooling", tone: "amber" };
  return { label: "healthy", tone: "green" };
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("span", { class: "muted" }, label), h("span", {}, value));
}

export function renderChannels(grid, channels) {
  clear(grid);
  if (!channels.length) grid.append(h("p", { class: "muted" }, "No channels configured"));
  for (const c of channels) {
    const state = channelState(c);
    const calls = c.successes + c.failures;
    const card = h("article", { class: `card channel tone-${state.tone}`, "data-channel": c.name, "data-state": state.label },
      h("header", { class: "channel-head" },
        h("div", {}, h("h3", {}, c.name), h("span", { class: "muted small" }, `${c.type} · priority ${c.priority} · weight ${c.weight}${c.proxied ? " · proxied" : ""}`)),
        h("span", { class: `badge ${state.tone}` }, state.label)),
      h("div", { class: "facts" },
        fact("Keys", `${c.keys.usable} of ${c.keys.total} usable`),
        fact("Latency", c.latency_ms === null ? "–" : fmtMs(Math.round(c.latency_ms))),
        fact("Calls", calls ? `${fmtInt(c.successes)} ok · ${fmtInt(c.failures)} failed` : "none yet"),
        fact("Success", calls ? fmtPercent(c.successes, calls) : "–"),
        fact("Last success", fmtRelative(c.last_success)),
        fact("Models", (c.models || []).join(", ") || "–")));
    if (c.cooldowns.length) {
      card.append(h("div", { class: "note amber" }, h("strong", {}, "Cooling: "),
        c.cooldowns.map((cd) => `${cd.model} (${Math.ceil(cd.seconds_left)} s left)`).join(", ")));
    }
    if (c.keys.set_aside.length) {
      card.append(h("div", { class: "note orange" }, h("strong", {}, "Set aside: "),
        c.keys.set_aside.map((k) => `key #${k.index + 1} until ${k.until.slice(11, 19)}`).join(", ")));
    }
    const last = c.recent_errors && c.recent_errors[0];
    if (last) {
      card.append(h("div", { class: "note red last-error" },
        h("div", {}, h("strong", {}, "Last error "), h("span", { class: "muted" }, `${fmtRelative(last.at)} · ${last.model || "?"} · ${last.status || "no status"}`)),
        h("div", { class: "error-text" }, last.message)));
    }
    grid.append(card);
  }
}
