"""/api/openapi.json: a valid OpenAPI 3.1 document that describes every operator and self-service route
the app serves, and whose schemas the real answers satisfy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.web.openapi import document
from tests.fakes.anthropic import AnthropicFake
from tests.harness import CALLER_KEY, make_config
from tests.records.world import World, records_world

DESCRIBED_PREFIXES = ("/api/", "/v1/dashboard/", "/dashboard/billing/", "/healthz", "/readyz")


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(make_config(tmp_path, channels=[]))
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and path.startswith(DESCRIBED_PREFIXES):
            found.add((route.method.lower(), path))
    return found


def test_the_document_is_valid_and_covers_every_route(tmp_path: Path) -> None:
    spec = document()
    validate(spec)
    described = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert described == served_routes(tmp_path)


def check(spec: dict[str, Any], schema: str, value: Any) -> None:
    OAS31Validator({**spec, "$ref": f"#/components/schemas/{schema}"}).validate(value)


async def test_real_answers_match_their_schemas(tmp_path: Path, fake_anthropic: AnthropicFake) -> None:
    async with records_world(tmp_path, fake_anthropic) as w:
        status, spec = await w.get("/api/openapi.json", key=None)  # no key needed for the document
        assert status == 200 and spec == document()
        for path, schema, params in (("/api/stats", "Stats", {"since": "2026-01-01"}),
                                     ("/api/stats", "Stats", {"by": "model"}),
                                     ("/api/logs", "LogPage", {"limit": 3}),
                                     ("/api/tokens", "Tokens", {}),
                                     ("/api/channels", "Channels", {}),
                                     ("/api/config", "Config", {})):
            status, body = await w.get(path, **params)
            assert status == 200, path
            check(spec, schema, body)
        for path, schema in (("/api/token/self", "TokenSelf"),
                             ("/v1/dashboard/billing/subscription", "BillingSubscription"),
                             ("/dashboard/billing/usage", "BillingUsage")):
            status, body = await w.get(path, key=CALLER_KEY)
            assert status == 200, path
            check(spec, schema, body)
        status, own_logs = await w.get("/api/token/self/logs", key=CALLER_KEY, limit=2)
        assert status == 200 and own_logs["data"]
        check(spec, "SelfLogPage", own_logs)
        status, error = await w.get("/api/stats", key="wrong")
        assert status == 401
        check(spec, "Error", error)
        await check_rejects_a_wrong_shape(spec, w)


async def check_rejects_a_wrong_shape(spec: dict[str, Any], w: World) -> None:
    _, page = await w.get("/api/logs", limit=1)
    page["data"][0]["quota"] = "12"
    try:
        check(spec, "LogPage", page)
    except Exception as exc:  # the validator's own error type
        assert "quota" in str(exc) or "'12'" in str(exc)
    else:
        raise AssertionError("a string quota passed the LogRow schema")
