// The dashboard's entry: sign-in, the period and split controls, and loading each view from the APIs.

import { ApiError, client, session } from "./api.js";
import { hideTooltip } from "./charts.js";
import { dayIn, daysBetween } from "./format.js";
import { renderChannels, renderTokens } from "./inventory.js";
import { LogView } from "./logs.js";
import { renderCharts, renderKpis, renderRanking } from "./overview.js";
import { loadSelfStats, loadStats } from "./stats.js";
import { renderSelfCard } from "./self.js";

const $ = (id) => document.getElementById(id);
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const state = { api: null, kind: null, zone: browserZone, last: null, logs: null, busy: false, again: false };

function showLogin(message) {
  state.api = null;
  $("app-view").hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("login-view").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("login-key").value = "";
  $("login-key").focus();
}

function showApp(kind, who) {
  for (const el of document.querySelectorAll("[data-admin]")) el.hidden = kind !== "admin";
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = who;
  $("self-card").hidden = kind !== "self";
}

function fail(err) {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    session.clear();
    showLogin(`Signed out: ${err.message}`);
    return;
  }
  $("app-error").hidden = false;
  $("app-error").textContent = err instanceof Error ? err.message : String(err);
}

/** The period picked in the toolbar, as days in the gateway's statistics zone (the last one today). */
function period() {
  const count = Number(document.querySelector("#period input:checked").value);
  const today = dayIn(Date.now() / 1000, state.zone);
  return { since: shiftDay(today, -(count - 1)), until: today };
}

function shiftDay(day, offset) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + offset)).toISOString().slice(0, 10);
}

async function loadAdmin() {
  const by = $("split").value;
  const range = period();
  const [tokens, channels, stats] = await Promise.all([
    state.api.json("api/tokens"),
    state.api.json("api/channels"),
    loadStats(state.api, "api/stats", range, [by, "model", "token"]),
  ]);
  if (stats.zone && stats.zone !== state.zone) {
    state.zone = stats.zone; // days are the gateway's: ask again with its day boundaries
    return loadAdmin();
  }
  state.last = { kind: "admin", by, days: daysBetween(stats.since, stats.until), stats };
  drawOverview();
  renderTokens($("token-table"), tokens.data, stats.rate);
  renderChannels($("channel-grid"), channels.data);
  const models = [...new Set(stats.split.model.map((r) => r.model))].sort();
  await showLogs("api/logs", true, stats.rate,
    { tokens: tokens.data.map((t) => t.name), channels: channels.data.map((c) => c.name), models });
}

/** The one log table, bound to this sign-in's key and endpoint (an operator's, or a token's own). */
async function showLogs(path, admin, rate, choices) {
  if (!state.logs) state.logs = new LogView({ api: state.api, path, admin, rate, onError: fail });
  if (state.logs.path !== path) state.logs.cursors = [null]; // another sign-in: start from the newest rows
  Object.assign(state.logs, { api: state.api, path, admin, rate });
  state.logs.setChoices(choices);
  await state.logs.show();
}

async function loadSelf() {
  const { me, stats } = await loadSelfStats(state.api, "api/token/self", period());
  if (stats.zone && stats.zone !== state.zone) {
    state.zone = stats.zone;
    return loadSelf();
  }
  state.last = { kind: "self", by: "model", days: daysBetween(stats.since, stats.until), stats };
  renderSelfCard($("self-card"), me, stats.rate);
  $("who-name").textContent = me.name;
  drawOverview();
  const models = [...new Set(stats.split.model.map((r) => r.model))].sort();
  await showLogs("api/token/self/logs", false, stats.rate, { models });
}

function drawOverview() {
  const { by, days, stats } = state.last;
  renderKpis($("kpis"), { total: stats.total, rate: stats.rate, daily: stats.daily });
  renderCharts({ days, split: stats.split[by], by, daily: stats.daily, rate: stats.rate, legend: $("legend") });
  renderRanking($("top-models"), stats.split.model, "model", stats.rate);
  if (stats.split.token) renderRanking($("top-tokens"), stats.split.token, "token", stats.rate);
}

async function refresh() {
  if (!state.api) return;
  if (state.busy) {
    state.again = true; // a control changed while loading: load once more when this one ends
    return;
  }
  state.busy = true;
  state.again = false;
  $("refresh").disabled = true;
  $("app-error").hidden = true;
  try {
    await (state.kind === "admin" ? loadAdmin() : loadSelf());
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1); // for tests and scripts
  } catch (err) {
    fail(err);
  } finally {
    state.busy = false;
    $("refresh").disabled = false;
  }
  if (state.again && state.api) await refresh();
}

/** Check the key against the API of its kind; keep it for this tab only if it is accepted. */
async function signIn(key, kind) {
  const api = client(key);
  const probe = kind === "admin" ? "api/tokens" : "api/token/self";
  await api.json(probe);
  session.save(key, kind);
  state.api = api;
  state.kind = kind;
  showApp(kind, kind === "admin" ? "Operator" : "Token holder");
  await refresh();
}

function start() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const key = form.elements.key.value.trim();
    const kind = form.elements.kind.value;
    $("login-submit").disabled = true;
    try {
      await signIn(key, kind);
    } catch (err) {
      session.clear();
      // 401: not a key of this kind; 403 says why (the operator API is off, an address not allowed...)
      showLogin(err instanceof ApiError && err.status === 401 ? "That key was refused." : err.message);
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", () => {
    session.clear();
    showLogin("");
  });
  $("refresh").addEventListener("click", refresh);
  $("split").addEventListener("change", refresh);
  for (const input of document.querySelectorAll("#period input")) input.addEventListener("change", refresh);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      hideTooltip();
      if (state.last && state.last.stats) drawOverview();
    }, 150);
  });
  const saved = session.load();
  if (saved) {
    signIn(saved.key, saved.kind).catch((err) => {
      session.clear();
      showLogin(err.message);
    });
  } else {
    showLogin("");
  }
}

start();
