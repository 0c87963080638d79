"""The declarative tables are complete: every neutral stop reason and field has a place per protocol."""

from __future__ import annotations

from typing import get_args

from gateway.protocols import Protocol
from gateway.translate import stops
from gateway.translate.fields import SAMPLING
from gateway.translate.neutral import StopReason


def test_every_neutral_stop_reason_is_written_by_every_protocol() -> None:
    neutral = set(get_args(StopReason))
    assert set(stops.OPENAI_OUT) == set(stops.ANTHROPIC_OUT) == set(stops.GEMINI_OUT) == neutral


def test_every_stop_reason_read_is_neutral() -> None:
    neutral = set(get_args(StopReason))
    for table in (stops.OPENAI_IN, stops.ANTHROPIC_IN, stops.GEMINI_IN):
        assert set(table.values()) <= neutral


def test_every_sampling_field_says_where_each_protocol_keeps_it() -> None:
    for field in SAMPLING:
        assert set(field.paths) == set(Protocol), field.name
