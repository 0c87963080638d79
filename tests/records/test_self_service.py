"""Self-service with a token's own key: /api/token/self shows the caller's data and nobody else's, and the
legacy billing endpoints read the way NextChat reads them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.web.self_service import UNLIMITED_USD
from tests.harness import CALLER_KEY, make_config, running_gateway, token
from tests.records.world import BOB, CAROL, MIDNIGHT, ZONE, World

RATE = 500_000


async def test_each_door_s_key_header_names_its_own_token(world: World) -> None:
    for name, key, headers, params in (
            ("alice", CALLER_KEY, {}, {}),
            ("bob", None, {"x-api-key": BOB}, {}),
            ("carol", None, {"x-goog-api-key": CAROL}, {}),
            ("carol", None, {}, {"key": CAROL})):
        status, me = await world.get("/api/token/self", key=key, headers=headers, query=params)
        assert status == 200 and me["name"] == name, (name, me)
    for key in (None, "sk-not-a-key", CALLER_KEY + "x"):
        status, body = await world.get("/api/token/self", key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"


async def test_self_shows_the_caller_s_balance_and_usage_and_no_one_else_s(world: World) -> None:
    rows = await world.rows()
    balances = await world.gw.runtime.ledger.balances()
    status, me = await world.get("/api/token/self", key=CAROL, since="2026-01-01", by="model")
    assert status == 200
    carol = balances["carol"]
    grant = 1 * RATE
    assert (me["grant"], me["used"], me["held"], me["remaining"]) == (grant, carol.used, 0, grant - carol.used)
    assert me["unlimited"] is False and me["models"] == ["gpt-*", "dall-e-*"] and me["group"] == "default"
    assert me["usd"] == {"grant": 1.0, "used": carol.used / RATE, "held": 0.0, "remaining": (grant - carol.used) / RATE}
    assert me["timezone"] == ZONE and me["limits"] == {"rpm": None, "tpm": None, "max_concurrent": None}
    own = [row for row in rows if row.token == "carol"]
    assert me["usage_total"]["requests"] == len(own) == 3
    assert me["usage_total"]["quota"] == sum(row.quota for row in own) == carol.used
    assert {(r["day"], r["model"]) for r in me["usage"]} >= {("2026-01-14", "gpt-4o-mini"),
                                                             ("2026-01-15", "gpt-4o-mini")}
    text = json.dumps(me)
    for other in ("alice", "bob", "alpha", "claude"):  # neither other tokens nor channel names
        assert other not in text, other

    _, bob = await world.get("/api/token/self", key=BOB)  # the last 7 days by default
    assert bob["unlimited"] is True and bob["grant"] is None and bob["remaining"] is None
    assert bob["usage_total"]["requests"] == len([row for row in rows if row.token == "bob"])
    assert all("token" not in record and "channel" not in record for record in bob["usage"])
    status, _ = await world.get("/api/token/self", key=BOB, by="token")
    assert status == 400  # a token holder may split by model only


def nextchat_usage(usage: dict[str, Any], subscription: dict[str, Any]) -> dict[str, Any]:
    """What NextChat's `usage()` (app/client/platforms/openai.ts) makes of the two answers."""
    if usage.get("error") and usage["error"].get("type"):
        raise AssertionError(usage["error"]["message"])
    used = usage.get("total_usage")
    if used:
        used = round(used) / 100
    total = subscription.get("hard_limit_usd")
    if total:
        total = round(total * 100) / 100
    return {"used": used, "total": total}


def nextchat_dates(now: datetime) -> dict[str, str]:
    """The window NextChat asks for: the first of this month to tomorrow, in the browser's days."""
    return {"start_date": now.date().replace(day=1).isoformat(),
            "end_date": (now.date() + timedelta(days=1)).isoformat()}


@pytest.mark.parametrize("prefix", ["/v1", ""])
async def test_billing_endpoints_read_like_a_chat_front_end(world: World, prefix: str) -> None:
    balances = await world.gw.runtime.ledger.balances()
    dates = nextchat_dates(datetime.now(ZoneInfo(ZONE)))
    _, subscription = await world.get(f"{prefix}/dashboard/billing/subscription", key=CALLER_KEY)
    _, usage = await world.get(f"{prefix}/dashboard/billing/usage", key=CALLER_KEY, **dates)
    assert subscription["object"] == "billing_subscription" and usage["object"] == "list"
    assert isinstance(subscription["has_payment_method"], bool)
    assert subscription["soft_limit_usd"] == subscription["system_hard_limit_usd"] == 10.0
    assert subscription["access_until"] == 0
    shown = nextchat_usage(usage, subscription)
    assert shown == {"used": round(balances["alice"].used * 100 / RATE) / 100, "total": 10.0}
    assert usage["total_usage"] == pytest.approx(balances["alice"].used * 100 / RATE)
    today = datetime.now(ZoneInfo(ZONE)).date().isoformat()
    [day] = usage["daily_costs"]
    midnight = datetime.fromisoformat(today).replace(tzinfo=ZoneInfo(ZONE)).timestamp()
    assert day["timestamp"] == midnight
    assert {item["name"] for item in day["line_items"]} == {"gpt-4o-mini", "gpt-4o"}
    assert sum(item["cost"] for item in day["line_items"]) == pytest.approx(usage["total_usage"])

    _, bob_subscription = await world.get(f"{prefix}/dashboard/billing/subscription", headers={"x-api-key": BOB},
                                          key=None)
    assert bob_subscription["hard_limit_usd"] == UNLIMITED_USD
    status, refused = await world.get(f"{prefix}/dashboard/billing/usage", key="sk-wrong")
    assert status == 401 and refused["error"]["type"] == "invalid_request_error"  # NextChat: "Unauthorized"


async def test_billing_usage_windows(world: World) -> None:
    _, january = await world.get("/v1/dashboard/billing/usage", key=CAROL, start_date="2026-01-15",
                                 end_date="2026-01-16")
    midnight = MIDNIGHT
    assert january["daily_costs"] == [{"timestamp": midnight,
                                       "line_items": [{"name": "gpt-4o-mini", "cost": 50 * 100 / RATE}]}]
    balances = await world.gw.runtime.ledger.balances()
    assert january["total_usage"] == pytest.approx(balances["carol"].used * 100 / RATE)  # the whole balance
    _, empty = await world.get("/v1/dashboard/billing/usage", key=CAROL, start_date="2025-01-01",
                               end_date="2025-02-01")
    assert empty["daily_costs"] == []
    for params in ({"start_date": "01/01/2026"}, {"start_date": "2026-01-16", "end_date": "2026-01-15"}):
        status, _body = await world.get("/v1/dashboard/billing/usage", key=CAROL, **params)
        assert status == 400, params


async def test_an_expiring_token_reports_its_expiry_and_an_expired_one_is_refused(tmp_path: Path) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    config = make_config(tmp_path, channels=[], tokens=[
        token("soon", expires_at=later.isoformat()),
        token("gone", key="sk-test-gone-9d9d9d", expires_at="2020-01-01T00:00:00Z")])
    import aiohttp
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        async with session.get(gw.url + "/v1/dashboard/billing/subscription",
                               headers={"Authorization": f"Bearer {CALLER_KEY}"}) as resp:
            assert (await resp.json())["access_until"] == int(later.timestamp())
        async with session.get(gw.url + "/api/token/self",
                               headers={"Authorization": f"Bearer {CALLER_KEY}"}) as resp:
            me = await resp.json()
            assert me["expires_at"] == later.isoformat() and me["usage"] == []
            assert date.fromisoformat(me["until"]) - date.fromisoformat(me["since"]) == timedelta(days=6)
        async with session.get(gw.url + "/api/token/self",
                               headers={"Authorization": "Bearer sk-test-gone-9d9d9d"}) as resp:
            assert resp.status == 401
