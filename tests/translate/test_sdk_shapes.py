"""Every body and stream event in the golden tree parses with the official SDK's own types.

Both sides are checked: what we produce (upstream requests, caller replies and streams) and the
hand-written provider fixtures (caller requests, upstream replies and streams), so neither can drift
into shapes the providers do not have.
"""

from __future__ import annotations

import pytest

from tests.translate.golden import Case, cases, parse_sse
from tests.translate.sdk_shapes import check_error, check_request, check_response, check_stream_event

ALL = cases()


@pytest.mark.parametrize("case", [c for c in ALL if c.has("upstream_request.json")], ids=lambda c: c.id)
def test_requests(case: Case) -> None:
    check_request(case.door, case.json("caller_request.json"))
    check_request(case.channel, case.json("upstream_request.json"))


@pytest.mark.parametrize("case", [c for c in ALL if c.has("caller_response.json")], ids=lambda c: c.id)
def test_replies(case: Case) -> None:
    if "status" in case.meta:
        check_error(case.channel, case.json("upstream_response.json"))
        check_error(case.door, case.json("caller_response.json"))
    else:
        check_response(case.channel, case.json("upstream_response.json"))
        check_response(case.door, case.json("caller_response.json"))


@pytest.mark.parametrize("case", [c for c in ALL if c.has("caller_stream.sse")], ids=lambda c: c.id)
def test_streams(case: Case) -> None:
    for event in parse_sse(case.text("upstream_stream.sse")):
        check_stream_event(case.channel, event.event, event.data)
    for event in parse_sse(case.text("caller_stream.sse")):
        check_stream_event(case.door, event.event, event.data)
