"""The dashboard in headless Chromium, against a gateway that served real SDK calls (tests/browser/env.py).

Every number checked on the page is compared with what the gateway's own APIs answer, read here
independently; today's bars are also checked against the calls the test itself made.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import DESKTOP, PHONE, Browser, screenshot
from tests.browser.env import ALICE_KEY, CLAUDE, GEMINI, Dashboard
from tests.harness import ADMIN_KEY

LOADED = "body[data-loads]"


async def reloaded(page: Any, selector: str, action: Any) -> None:
    """Run `action` and wait until the element's data-loads counter moves on (no eval: the CSP forbids it)."""
    before = await page.get_attribute(selector, "data-loads")
    await action
    await page.wait_for_selector(f"{selector}[data-loads='{int(before or 0) + 1}']", timeout=15000)


async def sign_in(page: Any, d: Dashboard, key: str = ADMIN_KEY, kind: str = "admin") -> None:
    await page.goto(d.url)
    await page.check(f"input[name=kind][value={kind}]", force=True)
    await page.fill("#login-key", key)
    await page.click("#login-submit")
    await page.wait_for_selector(LOADED, timeout=15000)


async def marks(page: Any, chart: str) -> dict[tuple[str, str], float]:
    """(day, series) -> value of every bar or dot drawn in one chart."""
    found = await page.eval_on_selector_all(
        f"#{chart} [data-series][data-value]",
        "els => els.map(e => [e.dataset.day, e.dataset.series, Number(e.dataset.value)])")
    return {(day, series): value for day, series, value in found}


async def kpi(page: Any, name: str) -> str:
    return (await page.inner_text(f"[data-kpi={name}] .kpi-value")).strip()


def per_day(records: list[dict[str, Any]], by: str, field: str) -> dict[tuple[str, str], float]:
    return {(r["day"], r[by]): r[field] for r in records if r[field]}


async def test_operator_sees_the_numbers_the_api_returns(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    page = await browser.page(DESKTOP)
    await sign_in(page, d)

    # the page opens on the 7 days ending today; read the same period from the API
    until = (await d.api("/api/stats"))["until"]
    week = await d.api("/api/stats", since=days_before(until, 6), until=until, by="model")
    total = (await d.api("/api/stats", since=week["since"], until=week["until"]))["total"]
    assert await kpi(page, "requests") == f"{total['requests']:,}"
    assert await kpi(page, "errors") == f"{total['errors']:,}"
    assert f"{total['quota']:,} quota" in await page.inner_text("[data-kpi=cost]")

    assert await marks(page, "chart-requests") == per_day(week["data"], "model", "requests")
    tokens_drawn = await marks(page, "chart-tokens")
    assert tokens_drawn == {(r["day"], r["model"]): r["prompt_tokens"] + r["completion_tokens"]
                            for r in week["data"] if r["prompt_tokens"] + r["completion_tokens"]}
    cost_drawn = await marks(page, "chart-cost")
    rate = week["quota_per_usd"]
    assert cost_drawn.keys() == per_day(week["data"], "model", "quota").keys()
    for (day, model), usd in cost_drawn.items():
        quota = next(r["quota"] for r in week["data"] if (r["day"], r["model"]) == (day, model))
        assert abs(usd - quota / rate) < 1e-9
    latency = await marks(page, "chart-latency")
    for r in week["data"]:
        if r["p95_ms"] is not None:
            assert latency[(r["day"], r["model"])] == r["p95_ms"]

    # today's bars count exactly the calls this test made through the SDKs
    today = {model: value for (day, model), value in (await marks(page, "chart-requests")).items()
             if day == week["until"]}
    assert today == d.today

    # top models in the API's order of cost
    by_model: Counter[str] = Counter()
    for r in week["data"]:
        by_model[r["model"]] += r["quota"]
    ranked = await page.eval_on_selector_all("#top-models li", "els => els.map(e => e.dataset.name)")
    assert ranked == [name for name, _ in by_model.most_common()]

    # each token's grant, used and remaining as /api/tokens has them
    for t in (await d.api("/api/tokens"))["data"]:
        row = page.locator(f"#token-table tr[data-token='{t['name']}']")
        cells = [c.strip() for c in await row.locator("td").all_inner_texts()]
        assert cells[3].splitlines()[0] == f"{t['used']:,}"
        if t["unlimited"]:
            assert cells[2] == "unlimited"
        else:
            assert cells[2].splitlines()[0] == f"{t['grant']:,}"
            assert cells[5].splitlines()[0] == f"{t['remaining']:,}"
            share = 100 * t["used"] / t["grant"]
            assert cells[6].endswith(f"{share:.1f}% used" if share < 10 else f"{share:.0f}% used")
            width = await row.locator(".meter .fill:not(.held)").evaluate("e => parseFloat(e.style.width)")
            assert abs(width - min(100.0, share)) < 1e-3  # CSS keeps four decimals

    # channel states as routing knows them: a revoked key set aside, a cooldown after a 500, a healthy one
    states = dict(await page.eval_on_selector_all(
        "#channel-grid [data-channel]", "els => els.map(e => [e.dataset.channel, e.dataset.state])"))
    assert states == {"openai-main": "keys set aside", "anthropic": "cooling", "gemini": "healthy"}
    assert "upstream overloaded" in await page.inner_text("[data-channel=anthropic] .last-error")

    # the key lives in this tab's session storage only; the page's own files hold no secret
    assert ADMIN_KEY in await page.evaluate("sessionStorage.getItem('gateway.dashboard')")
    assert await page.evaluate("localStorage.length") == 0
    assert await page.evaluate("document.cookie") == ""
    html = await (await page.request.get(d.url)).text()
    assert ADMIN_KEY not in html and ALICE_KEY not in html

    await screenshot(page, "dashboard-top", full_page=False)  # docs/dashboard.png is a copy of this one
    await page.hover("#chart-requests rect.hit:last-of-type")
    assert not await page.locator("#tooltip").is_hidden()
    await screenshot(page, "dashboard-desktop")

    # a reload in the same tab keeps the session; signing out forgets the key
    await page.reload()
    await page.wait_for_selector(LOADED)
    await page.click("#logout")
    assert await page.evaluate("sessionStorage.length") == 0
    assert await page.locator("#login-view").is_visible()


def days_before(day: str, count: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=count)).isoformat()


async def test_split_and_period_redraw_from_the_api(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    page = await browser.page(DESKTOP)
    await sign_in(page, d)
    await reloaded(page, "body", page.select_option("#split", "token"))
    until = (await d.api("/api/stats"))["until"]
    week = await d.api("/api/stats", since=days_before(until, 6), until=until, by="token")
    assert await marks(page, "chart-requests") == per_day(week["data"], "token", "requests")
    legend = await page.eval_on_selector_all("#legend [data-series]", "els => els.map(e => e.dataset.series)")
    assert set(legend) == {r["token"] for r in week["data"]}

    await reloaded(page, "body", page.click("#period label:has(input[value='1'])"))
    today = await d.api("/api/stats", since=until, until=until, by="token")
    assert await marks(page, "chart-requests") == per_day(today["data"], "token", "requests")
    assert await kpi(page, "requests") == str(sum(d.today.values()))


async def log_rows(page: Any) -> list[dict[str, str]]:
    return await page.eval_on_selector_all("#log-table tbody tr[data-id]", "els => els.map(e => ({...e.dataset}))")


async def apply_filters(page: Any, **values: str) -> None:
    for name, value in values.items():
        field = page.locator(f"#log-filters [name={name}]")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await reloaded(page, "#log-table", page.click("#log-filters button[type=submit]"))


async def test_log_table_filters_pages_and_exports_csv(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    page = await browser.page(DESKTOP)
    await sign_in(page, d)

    first = await log_rows(page)
    api_first = (await d.api("/api/logs", limit=25))["data"]
    assert [int(r["id"]) for r in first] == [r["id"] for r in api_first]

    # paging follows the API's cursor; Newer comes back to the same rows
    await reloaded(page, "#log-table", page.click("#older"))
    second = await log_rows(page)
    api_second = (await d.api("/api/logs", limit=25, cursor=api_first[-1]["id"]))["data"]
    assert [int(r["id"]) for r in second] == [r["id"] for r in api_second]
    await reloaded(page, "#log-table", page.click("#newer"))
    assert await page.is_disabled("#newer")
    assert [r["id"] for r in await log_rows(page)] == [r["id"] for r in first]

    await apply_filters(page, token="web-app", outcome="error")
    rows = await log_rows(page)
    expected = (await d.api("/api/logs", token="web-app", outcome="error", limit=25))["data"]
    assert rows and [int(r["id"]) for r in rows] == [r["id"] for r in expected]
    assert {(r["token"], r["outcome"]) for r in rows} == {("web-app", "error")}

    await reloaded(page, "#log-table", page.click("#log-filters button[type=reset]"))
    await apply_filters(page, model=GEMINI, channel="gemini")
    rows = await log_rows(page)
    assert rows and {(r["model"], r["channel"]) for r in rows} == {(GEMINI, "gemini")}

    # a time range: from the start of today (the browser's clock and zone) on, only today's calls
    start_of_today = await page.evaluate("(() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d; })()")
    midnight = await page.evaluate(
        "(() => { const d = new Date(); const p = n => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T00:00`; })()")
    assert start_of_today
    await reloaded(page, "#log-table", page.click("#log-filters button[type=reset]"))
    await apply_filters(page, since=midnight)
    rows = await log_rows(page)
    since = await page.evaluate("s => new Date(s).getTime() / 1000", midnight)
    expected = (await d.api("/api/logs", since=since, limit=25))["data"]
    assert [int(r["id"]) for r in rows] == [r["id"] for r in expected]
    assert all(r["time"] >= since for r in expected)
    assert len(rows) >= sum(d.today.values())

    # the CSV download holds every row the filters match, not only the page on screen
    await reloaded(page, "#log-table", page.click("#log-filters button[type=reset]"))
    await apply_filters(page, token="batch-jobs")
    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    assert download.suggested_filename.startswith("gateway-logs-") and download.suggested_filename.endswith(".csv")
    text = (await download.path()).read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    every = await all_rows(d, token="batch-jobs")
    assert len(every) > 25
    assert [int(r["id"]) for r in records] == [r["id"] for r in every]
    assert {r["token"] for r in records} == {"batch-jobs"}
    await screenshot(page, "logs-desktop")


async def all_rows(d: Dashboard, **filters: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await d.api("/api/logs", limit=1000, **filters, **({"cursor": cursor} if cursor else {}))
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


async def test_phone_width_fits_and_shows_everything(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    page = await browser.page(PHONE, is_mobile=True, has_touch=True)
    await sign_in(page, d)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for chart in ("chart-requests", "chart-cost", "chart-tokens", "chart-latency"):
        assert await marks(page, chart), chart
        width = await page.eval_on_selector(f"#{chart} svg", "e => e.getBoundingClientRect().width")
        assert width <= PHONE["width"] - 20
    assert await page.locator("#token-table tr[data-token]").count() == 4
    assert await page.locator("#channel-grid [data-channel]").count() == 3
    assert len(await log_rows(page)) == 25
    await screenshot(page, "dashboard-phone")


async def test_wrong_keys_are_refused(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    # each refusal is a 401 the browser reports in its console; that report is what this test expects
    browser.expect_problem(r"Failed to load resource: the server responded with a status of 401")
    page = await browser.page(DESKTOP)
    await page.goto(d.url)
    await screenshot(page, "login")
    for key, kind in [("not-the-admin-key", "admin"), (ALICE_KEY, "admin"), ("sk-nobody-000000", "self"),
                      (ADMIN_KEY, "self")]:
        await page.check(f"input[name=kind][value={kind}]", force=True)
        await page.fill("#login-key", key)
        await page.click("#login-submit")
        await page.wait_for_selector("#login-error:not([hidden])")
        assert "refused" in await page.inner_text("#login-error")
        assert await page.locator("#app-view").is_hidden()
        assert await page.evaluate("sessionStorage.length") == 0
        assert await page.locator("#kpis .kpi").count() == 0
    assert len(browser.problems) == 4
    await screenshot(page, "wrong-key")


async def test_token_holder_sees_only_their_own_usage(browser: Browser, dashboard: Dashboard) -> None:
    d = dashboard
    for viewport, name in [(DESKTOP, "self-desktop"), (PHONE, "self-phone")]:
        page = await browser.page(viewport)
        paths: list[str] = []
        page.on("request", lambda request, paths=paths: paths.append(request.url.split("?")[0]))
        await sign_in(page, d, key=ALICE_KEY, kind="self")
        until = (await d.api("/api/token/self", key=ALICE_KEY))["until"]
        me = await d.api("/api/token/self", key=ALICE_KEY, since=days_before(until, 6), until=until, by="model")
        assert me["name"] == "alice"
        assert await page.inner_text("#self-card h2") == "alice"
        used = await page.inner_text("#self-card [data-figure=used] strong")
        assert used == f"{me['used']:,}"
        assert (await page.inner_text("#self-card [data-figure=remaining] strong")) == f"{me['remaining']:,}"
        assert await marks(page, "chart-requests") == per_day(me["usage"], "model", "requests")
        assert await kpi(page, "requests") == f"{sum(r['requests'] for r in me['usage']):,}"

        # the holder's own log rows, read from /api/token/self/logs: exactly alice's, without token or channel
        assert await page.locator("#logs").is_visible()
        shown = await log_rows(page)
        own = (await d.api("/api/token/self/logs", key=ALICE_KEY, limit=25))["data"]
        everyone_s = (await d.api("/api/logs", token="alice", limit=25))["data"]
        assert shown and [int(r["id"]) for r in shown] == [r["id"] for r in own] == [r["id"] for r in everyone_s]
        assert {r["token"] for r in shown} == {"alice"} and all("channel" not in r for r in shown)
        heads = await page.eval_on_selector_all("#log-table thead th", "els => els.map(e => e.textContent)")
        assert "Channel" not in heads and "Token" not in heads
        await apply_filters(page, model=CLAUDE)
        claude = await log_rows(page)
        assert claude and {r["model"] for r in claude} == {CLAUDE}

        # nothing of the other tokens, the channels or the operator's APIs
        text = await page.inner_text("body")
        for other in ("web-app", "batch-jobs", "evals", "openai-main"):
            assert other not in text
        for section in ("#tokens", "#channels"):
            assert await page.locator(section).is_hidden()
        operator = {p for p in paths if "/api/" in p and not p.endswith(("/api/token/self", "/api/token/self/logs"))}
        assert operator == set() and any(p.endswith("/api/token/self/logs") for p in paths)
        await screenshot(page, name)
