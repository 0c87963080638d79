"""fastjson gives what Python's json gives, with orjson or without, including what orjson alone refuses."""

from __future__ import annotations

import json

import pytest

from gateway import fastjson

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "héllo 世界 😀 \"quoted\""}],
        "max_tokens": 64, "temperature": 0.2, "stream": False, "n": None}


def test_compact_utf8_like_json_with_ensure_ascii_off() -> None:
    assert fastjson.dumps(BODY) == json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode()
    assert fastjson.loads(fastjson.dumps(BODY)) == BODY


def test_what_orjson_refuses_still_works() -> None:
    huge = {"seed": 2**70, "n": -(2**65)}
    assert fastjson.dumps(huge) == b'{"seed":1180591620717411303424,"n":-36893488147419103232}'
    assert fastjson.loads(b'{"seed": 1180591620717411303424}') == {"seed": 2**70}
    assert fastjson.loads(b'{"x": NaN}')["x"] != fastjson.loads(b'{"x": NaN}')["x"]  # NaN, as json reads it
    assert fastjson.dumps({1: "a"}) == b'{"1":"a"}'


def test_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        fastjson.loads(b'{"a": ')


def test_without_orjson_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastjson, "orjson", None)
    assert fastjson.dumps(BODY) == json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode()
    assert fastjson.loads(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
