"""The operator and self-service HTTP API as an OpenAPI 3.1 document, served at GET /api/openapi.json.

Built from the same names the handlers use (log columns from LogRow, statistic fields from DailyStat),
so a field added there shows up here; a test checks every /api route is described and the document
validates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from gateway import __doc__ as package_doc
from gateway.ledger.base import STAT_SPLITS, LogRow, Outcome

Schema = dict[str, Any]

_FIELD_TYPES: dict[str, Schema] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
    "bool": {"type": "boolean"}, "int | None": {"type": ["integer", "null"]},
    "Outcome": {"type": "string", "enum": [outcome.value for outcome in Outcome]},
}
_STAT_SUMS = ("requests", "errors", "cancelled", "quota", "prompt_tokens", "completion_tokens",
              "cached_tokens", "cache_write_tokens", "reasoning_tokens", "request_time_ms", "first_byte_ms")
_MS_OR_NULL: Schema = {"type": ["integer", "null"], "description": "milliseconds; null without calls"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], *, required: list[str] | None = None, **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, "required": required or list(properties), **extra}


def _param(name: str, where: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": where, "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    texts = {400: "bad query parameter", 401: "missing or wrong key",
             403: "the operator API is off (no server.admin_key), or the key may not be used from here",
             503: "the ledger is unavailable"}
    return {str(status): _json(_ref("Error"), texts[status]) for status in statuses}


def _stat_record() -> Schema:
    properties: dict[str, Schema] = {"day": {"type": "string", "format": "date"}}
    properties.update({split: {"type": "string", "description": f"present when split by {split}"}
                       for split in STAT_SPLITS})
    properties.update({name: {"type": "integer"} for name in _STAT_SUMS})
    properties["usd"] = {"type": "number", "description": "quota / billing.quota_per_usd"}
    properties.update({"avg_ms": _MS_OR_NULL, "avg_first_byte_ms": _MS_OR_NULL,
                       "p50_ms": {**_MS_OR_NULL, "description": "request time of successful calls, from "
                                  "a fixed-bucket histogram: the bucket's upper bound, at most the slowest"},
                       "p95_ms": _MS_OR_NULL})
    required = [name for name in properties if name not in (*STAT_SPLITS, "day")]
    return _object(properties, required=required,
                   description="Calls of one day (or of the whole range, without `day`); errors count "
                               "outcomes error and abandoned.")


def _log_row(omit: tuple[str, ...] = ()) -> Schema:
    properties: dict[str, Schema] = {"id": {"type": "integer"}}
    for field in dataclasses.fields(LogRow):
        if field.name not in omit:
            properties[field.name] = dict(_FIELD_TYPES[str(field.type)])
    properties["time"]["description"] = "unix seconds when the call arrived"
    properties["quota"]["description"] = "quota units charged"
    return _object(properties)


def _schemas() -> dict[str, Schema]:
    nullable_int: Schema = {"type": ["integer", "null"]}
    token_fields: dict[str, Schema] = {
        "name": {"type": "string"}, "group": {"type": "string"}, "unlimited": {"type": "boolean"},
        "grant": {**nullable_int, "description": "quota units; null when unlimited"},
        "used": {"type": "integer"}, "held": {"type": "integer"},
        "remaining": {**nullable_int, "description": "grant − used − held; null when unlimited"},
        "requests": {"type": "integer"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
    }
    stats_envelope: dict[str, Schema] = {
        "timezone": {"type": "string"}, "since": {"type": "string", "format": "date"},
        "until": {"type": "string", "format": "date"}, "quota_per_usd": {"type": "integer"},
        "by": {"type": ["string", "null"], "enum": [*STAT_SPLITS, None]}}
    usd: Schema = {"type": ["number", "null"]}
    cursor: Schema = {**nullable_int, "description": "pass as `cursor` for the next (older) page; null on "
                                                     "the last page"}
    return {
        "Error": _object({"error": _object({"message": {"type": "string"}, "type": {"type": "string"},
                                            "code": {"type": ["string", "integer", "null"]},
                                            "param": {"type": ["string", "null"]}}, required=["message"])}),
        "StatRecord": _stat_record(),
        "Stats": _object({**stats_envelope, "data": {"type": "array", "items": _ref("StatRecord")},
                          "total": _ref("StatRecord")}),
        "LogRow": _log_row(),
        "LogPage": _object({"data": {"type": "array", "items": _ref("LogRow")}, "next_cursor": cursor}),
        "SelfLogRow": {**_log_row(omit=("client_ip",)), "additionalProperties": False,
                       "description": "a log row as its token holder sees it: without client_ip"},
        "SelfLogPage": _object({"data": {"type": "array", "items": _ref("SelfLogRow")},
                                "next_cursor": cursor}),
        "Token": _object({**token_fields, "enabled": {"type": "boolean"}}),
        "Tokens": _object({"data": {"type": "array", "items": _ref("Token")}}),
        "Channels": _object({"data": {"type": "array", "items": {"type": "object"}},
                             "routing": {"type": "object"}},
                            description="Each channel's state, cooldowns and recent errors; never a key."),
        "Config": {"type": "object", "description": "The running configuration as YAML would give it, "
                   "with keys, key hashes, header values and proxy passwords replaced by ***."},
        "Rebuilt": _object({"rebuilt": {"type": "boolean"}, "log_rows": {"type": "integer"},
                            "timezone": {"type": "string"}}),
        "Reload": _object({"ok": {"type": "boolean"}}, additionalProperties=True),
        "Health": _object({"status": {"type": "string"}}),
        "TokenSelf": _object({
            "object": {"const": "token"}, **token_fields,
            "models": {"type": ["array", "null"], "items": {"type": "string"},
                       "description": "model patterns the token may use; null: all"},
            "limits": _object({name: nullable_int for name in ("rpm", "tpm", "max_concurrent")}),
            "quota_per_usd": {"type": "integer"},
            "usd": _object({name: usd for name in ("grant", "used", "held", "remaining")}),
            **{k: v for k, v in stats_envelope.items() if k != "quota_per_usd"},
            "usage": {"type": "array", "items": _ref("StatRecord")}, "usage_total": _ref("StatRecord"),
        }),
        "BillingSubscription": _object({
            "object": {"const": "billing_subscription"}, "has_payment_method": {"type": "boolean"},
            "soft_limit_usd": {"type": "number"}, "hard_limit_usd": {"type": "number"},
            "system_hard_limit_usd": {"type": "number"},
            "access_until": {"type": "integer", "description": "token expiry, unix seconds; 0: none"},
        }, additionalProperties=True),
        "BillingUsage": _object({
            "object": {"const": "list"},
            "total_usage": {"type": "number", "description": "US cents charged since the token started"},
            "daily_costs": {"type": "array", "items": _object({
                "timestamp": {"type": "number", "description": "the day's local midnight, unix seconds"},
                "line_items": {"type": "array", "items": _object({"name": {"type": "string"},
                                                                  "cost": {"type": "number"}})}})},
        }),
    }


def _day_params(default: str) -> list[Schema]:
    return [_param("since", "query", f"first day, inclusive: YYYY-MM-DD or unix seconds (default {default})"),
            _param("until", "query", "last day, inclusive: YYYY-MM-DD, or unix seconds (the last day "
                                     "starting before it); default today in the statistics' time zone")]


def _op(summary: str, security: list[dict[str, list[str]]], responses: dict[str, Schema],
        parameters: list[Schema] | None = None) -> Schema:
    operation: Schema = {"summary": summary, "security": security, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _paths() -> dict[str, Schema]:
    admin: list[dict[str, list[str]]] = [{"adminKey": []}]
    caller: list[dict[str, list[str]]] = [{name: []} for name in
                                          ("bearer", "xApiKey", "xGoogApiKey", "queryKey")]
    filters = [_param(name, "query", f"only this {name}") for name in ("token", "model", "channel")]
    by = _param("by", "query", "split each day by this", {"type": "string", "enum": list(STAT_SPLITS)})
    when = "unix seconds, ISO 8601 date or date-time (naive: statistics' time zone), or an age like 2h, 7d"
    log_params = [*filters,
                  _param("outcome", "query", "only this outcome", {"type": "string",
                                                                    "enum": [o.value for o in Outcome]}),
                  _param("status", "query", "only this HTTP status", {"type": "integer"}),
                  _param("since", "query", f"from (inclusive): {when}"),
                  _param("until", "query", f"before (exclusive): {when}"),
                  _param("cursor", "query", "next_cursor of the previous page", {"type": "integer"}),
                  _param("limit", "query", "rows per page, 1–1000 (default 100); with format=csv the "
                                           "most rows to export (default all)", {"type": "integer"}),
                  _param("format", "query", "json (a page) or csv (every matching row, header first)",
                         {"type": "string", "enum": ["json", "csv"]})]
    billing = [_param("start_date", "query", "YYYY-MM-DD, inclusive (default: first of this month)"),
               _param("end_date", "query", "YYYY-MM-DD, exclusive (default: tomorrow)")]
    self_split = _param("by", "query", "split each day by model", {"type": "string", "enum": ["model"]})
    logs_ok = {"description": "a page, or a CSV download", "content": {
        "application/json": {"schema": _ref("LogPage")}, "text/csv": {"schema": {"type": "string"}}}}
    self_logs_ok = {"description": "a page, or a CSV download", "content": {
        "application/json": {"schema": _ref("SelfLogPage")}, "text/csv": {"schema": {"type": "string"}}}}
    self_log_params = [_param("token", "query", "only the caller's own name is accepted (another: 403)"),
                       *log_params[1:]]
    reload_answers = {"200": _json(_ref("Reload"), "reloaded"),
                      "409": _json(_ref("Reload"), "not started from a file"),
                      "422": _json(_ref("Reload"), "invalid; the running configuration is kept")}
    paths: dict[str, Schema] = {
        "/healthz": {"get": _op("Liveness", [], {"200": _json(_ref("Health"), "up")})},
        "/readyz": {"get": _op("Readiness (the ledger answers)", [], {
            "200": _json(_ref("Health"), "ready"), "503": _json(_ref("Health"), "ledger unavailable")})},
        "/api/stats": {"get": _op("Daily statistics", admin, {
            "200": _json(_ref("Stats"), "per day, by day then quota"), **_errors(400, 401, 403, 503)},
            [*_day_params("7 days up to until"), by, *filters])},
        "/api/stats/rebuild": {"post": _op("Recompute the daily statistics from the log rows", admin, {
            "200": _json(_ref("Rebuilt"), "done"), **_errors(401, 403, 503)})},
        "/api/logs": {"get": _op("Log rows, newest first", admin, {
            "200": logs_ok, **_errors(400, 401, 403, 503)}, log_params)},
        "/api/tokens": {"get": _op("Every token's grant, use and holds", admin, {
            "200": _json(_ref("Tokens"), "tokens"), **_errors(401, 403)})},
        "/api/channels": {"get": _op("Channel state for routing", admin, {
            "200": _json(_ref("Channels"), "channels"), **_errors(401, 403)})},
        "/api/config": {"get": _op("The running configuration, secrets redacted", admin, {
            "200": _json(_ref("Config"), "configuration"), **_errors(401, 403)})},
        "/api/reload": {"post": _op("Re-read the configuration file", admin, {
            **reload_answers, **_errors(401, 403)})},
        "/api/openapi.json": {"get": _op("This document", [], {
            "200": _json({"type": "object"}, "OpenAPI 3.1")})},
        "/api/token/self": {"get": _op("The calling token's balance, limits and usage by day", caller, {
            "200": _json(_ref("TokenSelf"), "the caller's own data"), **_errors(400, 401, 403, 503)},
            [*_day_params("7 days up to until"), self_split])},
        "/api/token/self/logs": {"get": _op("The calling token's own log rows, newest first (no client_ip)",
                                            caller, {"200": self_logs_ok, **_errors(400, 401, 403, 503)},
                                            self_log_params)},
    }
    for prefix in ("/v1", ""):
        paths[f"{prefix}/dashboard/billing/subscription"] = {"get": _op(
            "OpenAI legacy subscription (chat front ends)", caller, {
                "200": _json(_ref("BillingSubscription"), "limits in USD"), **_errors(401, 403)})}
        paths[f"{prefix}/dashboard/billing/usage"] = {"get": _op(
            "OpenAI legacy usage (chat front ends)", caller, {
                "200": _json(_ref("BillingUsage"), "usage in US cents"), **_errors(400, 401, 403, 503)},
            billing)}
    return paths


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "gateway operator and self-service API", "version": "1",
                 "description": (package_doc or "").strip()},
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "server.admin_key"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token's own key"},
                "xApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "xGoogApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "key"},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


def routes() -> list[web.RouteDef]:
    return [web.get("/api/openapi.json", openapi)]
