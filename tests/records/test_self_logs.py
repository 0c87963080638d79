"""GET /api/token/self/logs: a token holder reads their own log rows (never another token's, never
client_ip), with the operator's filters, cursor pages and CSV export."""

from __future__ import annotations

import csv
import io

from gateway.ledger.schema import LOG_COLUMNS
from tests.harness import CALLER_KEY
from tests.records.world import BOB, CAROL, MIDNIGHT, World

PATH = "/api/token/self/logs"


async def test_only_the_caller_s_own_rows_and_no_client_ip(world: World) -> None:
    rows = await world.rows()
    assert {row.token for row in rows} == {"alice", "bob", "carol"}
    assert any(row.client_ip for row in rows)  # the ledger has them; the holder's view must drop them
    for name, key, headers, params in (("alice", CALLER_KEY, {}, {}),
                                       ("bob", None, {"x-api-key": BOB}, {}),
                                       ("carol", None, {"x-goog-api-key": CAROL}, {}),
                                       ("carol", None, {}, {"key": CAROL})):
        status, page = await world.get(PATH, key=key, headers=headers, query=params)
        assert status == 200, page
        own = [row for row in rows if row.token == name]
        assert [r["request_id"] for r in page["data"]] == [row.request_id for row in own]  # newest first
        assert all(r["token"] == name and "client_ip" not in r for r in page["data"])
        assert set(page["data"][0]) == {"id", *LOG_COLUMNS} - {"client_ip"}
        assert page["next_cursor"] is None


async def test_another_token_s_name_is_refused_and_the_own_name_is_accepted(world: World) -> None:
    status, body = await world.get(PATH, key=CAROL, token="alice")
    assert status == 403 and body["error"]["param"] == "token"
    status, page = await world.get(PATH, key=CAROL, token="carol")
    assert status == 200 and {r["token"] for r in page["data"]} == {"carol"}


async def test_filters_cursor_and_bad_parameters(world: World) -> None:
    rows = await world.rows()
    alice = [row for row in rows if row.token == "alice"]
    _, by_model = await world.get(PATH, key=CALLER_KEY, model="gpt-4o")
    assert [r["request_id"] for r in by_model["data"]] == [r.request_id for r in alice if r.model == "gpt-4o"]
    assert by_model["data"]
    _, by_channel = await world.get(PATH, key=CALLER_KEY, channel="beta")
    assert [r["request_id"] for r in by_channel["data"]] == [r.request_id for r in alice if r.channel == "beta"]
    _, errors = await world.get(PATH, key=CALLER_KEY, outcome="error")
    assert {r["outcome"] for r in errors["data"]} == {"error"} and len(errors["data"]) == len(
        [r for r in alice if r.outcome == "error"])
    _, ok = await world.get(PATH, key=CALLER_KEY, status=200)
    assert len(ok["data"]) == len([r for r in alice if r.status == 200]) > 0
    _, window = await world.get(PATH, key=CAROL, since=str(MIDNIGHT - 1), until=str(MIDNIGHT))
    assert [r["request_id"] for r in window["data"]] == ["night-before"]

    seen: list[str] = []
    cursor = None
    while True:
        status, page = await world.get(PATH, key=CALLER_KEY, limit=2, **({"cursor": cursor} if cursor else {}))
        assert status == 200 and len(page["data"]) <= 2
        seen += [r["request_id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [row.request_id for row in alice] and len(alice) > 2

    for params in ({"since": "soon"}, {"cursor": "x"}, {"format": "xml"}):
        status, _body = await world.get(PATH, key=CALLER_KEY, **params)
        assert status == 400, params


async def test_csv_holds_the_caller_s_rows_without_client_ip(world: World) -> None:
    rows = await world.rows()
    status, text = await world.get(PATH, key=BOB, format="csv")
    assert status == 200
    table = list(csv.reader(io.StringIO(text)))
    header = ["id", *(column for column in LOG_COLUMNS if column != "client_ip")]
    assert table[0] == header
    records = [dict(zip(header, line, strict=True)) for line in table[1:]]
    assert [r["request_id"] for r in records] == [row.request_id for row in rows if row.token == "bob"]
    assert {r["token"] for r in records} == {"bob"}
    _, newest = await world.get(PATH, key=BOB, format="csv", limit=1)
    assert len(list(csv.reader(io.StringIO(newest)))) == 2  # header and bob's newest row


async def test_a_wrong_or_missing_key_is_401(world: World) -> None:
    for key in (None, "sk-not-a-key", CALLER_KEY + "x"):
        status, body = await world.get(PATH, key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key", key
    status, _body = await world.get(PATH, key="sk-not-a-key", format="csv")
    assert status == 401
