"""Typed keys for what the aiohttp app and its requests carry."""

from __future__ import annotations

from aiohttp import web

from gateway.protocols import Protocol
from gateway.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
REQUEST_ID = web.RequestKey("request_id", str)
CALL_STARTED = web.RequestKey("started", float)
DOOR = web.RequestKey("door", Protocol)
SENT_STATUS = web.RequestKey("sent_status", int)  # set once the response head went out

__all__ = ["CALL_STARTED", "DOOR", "REQUEST_ID", "RUNTIME", "Protocol"]
