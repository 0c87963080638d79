"""The golden cases under tests/golden/<from>_to_<to>/<case>/ and how each one is run.

Files of a case (each optional, a test runs when its inputs and expected output are present):
caller_request.json -> upstream_request.json, upstream_response.json -> caller_response.json,
upstream_stream.sse -> caller_stream.sse (literal SSE text), and meta.json with the call's facts:
model (as the caller named it), upstream_model, stream, include_usage, default_max_tokens, created,
status (an error reply's HTTP status) and the expectations dropped, response_dropped, caller_status,
usage (the relay's final Usage), finished, failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import translate
from gateway.protocols import Protocol
from gateway.protocols.sse import Decoder, Event, encode
from gateway.translate.base import StreamRelay, Translated

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CREATED = 1700000000


@dataclass
class Case:
    path: Path
    door: Protocol
    channel: Protocol
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def text(self, name: str) -> str:
        return (self.path / name).read_text()

    @property
    def model(self) -> str:
        if "model" in self.meta:
            return str(self.meta["model"])
        return str(self.json("caller_request.json").get("model", "unknown"))


def load(path: Path) -> Case:
    door, _, channel = path.parent.name.partition("_to_")
    meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").exists() else {}
    return Case(path, Protocol(door), Protocol(channel), meta)


def cases(*needed: str) -> list[Case]:
    found = [load(p) for p in sorted(GOLDEN.glob("*_to_*/*")) if p.is_dir()]
    return [c for c in found if all(c.has(n) for n in needed)]


def run_request(case: Case) -> Translated:
    return translate.chat_request(case.door, case.channel, case.json("caller_request.json"),
                                  upstream_model=case.meta.get("upstream_model", "upstream-model"),
                                  stream=bool(case.meta.get("stream", False)),
                                  default_max_tokens=int(case.meta.get("default_max_tokens", 1024)))


def run_response(case: Case) -> Translated:
    return translate.chat_response(case.door, case.channel, case.json("upstream_response.json"),
                                   model=case.model, created=CREATED)


def run_error(case: Case) -> tuple[int, Any]:
    return translate.error_response(case.door, case.channel, int(case.meta["status"]),
                                    case.json("upstream_response.json"))


def parse_sse(text: str) -> list[Event]:
    decoder = Decoder()
    return decoder.feed(text.encode()) + decoder.flush()


def render_sse(events: list[Event]) -> str:
    return "".join(encode(e).decode() for e in events)


def run_stream(case: Case) -> tuple[str, StreamRelay]:
    relay = translate.chat_stream(case.door, case.channel, model=case.model,
                                  include_usage=bool(case.meta.get("include_usage", True)), created=CREATED)
    out: list[Event] = []
    for event in parse_sse(case.text("upstream_stream.sse")):
        out.extend(relay.feed(event))
    out.extend(relay.flush())
    return render_sse(out), relay
