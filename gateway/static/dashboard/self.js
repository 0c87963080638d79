// A token holder's own view: their grant, what they used and what remains (GET /api/token/self).

import { clear, fmtInt, fmtUsd, h } from "./format.js";
import { usageBar } from "./inventory.js";

function figure(label, quota, rate, id) {
  return h("div", { class: "self-figure", "data-figure": id }, h("span", { class: "muted small" }, label),
    h("strong", {}, quota === null || quota === undefined ? "–" : fmtInt(quota)),
    rate && quota !== null && quota !== undefined ? h("span", { class: "muted small" }, fmtUsd(quota / rate)) : null);
}

export function renderSelfCard(el, me, rate) {
  clear(el).append(
    h("div", { class: "self-head" }, h("h2", {}, me.name), me.group ? h("span", { class: "badge grey" }, me.group) : null,
      me.expires_at ? h("span", { class: "muted small" }, `expires ${me.expires_at.slice(0, 10)}`) : null),
    h("div", { class: "self-figures" },
      me.unlimited ? h("div", { class: "self-figure" }, h("span", { class: "muted small" }, "Grant"), h("strong", {}, "unlimited"))
        : figure("Grant", me.grant, rate, "grant"),
      figure("Used", me.used, rate, "used"),
      figure("Held", me.held, rate, "held"),
      me.unlimited ? null : figure("Remaining", me.remaining, rate, "remaining")),
    usageBar(me));
}
