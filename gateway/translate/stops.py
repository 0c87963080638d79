"""Stop reasons of the three protocols, as tables to and from the neutral names."""

from __future__ import annotations

from gateway.translate.neutral import StopReason

OPENAI_IN: dict[str, StopReason] = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                                    "function_call": "tool_use", "content_filter": "content_filter"}
OPENAI_OUT: dict[StopReason, str] = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "other": "stop",
    "malformed_tool_call": "stop", "max_tokens": "length", "context_exceeded": "length",
    "tool_use": "tool_calls", "content_filter": "content_filter", "refusal": "content_filter"}

ANTHROPIC_IN: dict[str, StopReason] = {
    "end_turn": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence",
    "tool_use": "tool_use", "pause_turn": "pause_turn", "refusal": "refusal",
    "model_context_window_exceeded": "context_exceeded"}
ANTHROPIC_OUT: dict[StopReason, str] = {
    "end_turn": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence",
    "tool_use": "tool_use", "pause_turn": "pause_turn", "refusal": "refusal",
    "content_filter": "refusal", "context_exceeded": "model_context_window_exceeded",
    "malformed_tool_call": "end_turn", "other": "end_turn"}

_GEMINI_FILTERS = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                   "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE", "MODEL_ARMOR")
GEMINI_IN: dict[str, StopReason] = {
    "STOP": "end_turn", "MAX_TOKENS": "max_tokens", "MALFORMED_FUNCTION_CALL": "malformed_tool_call",
    "UNEXPECTED_TOOL_CALL": "malformed_tool_call", "TOO_MANY_TOOL_CALLS": "malformed_tool_call",
    "MISSING_THOUGHT_SIGNATURE": "malformed_tool_call",
    **{name: "content_filter" for name in _GEMINI_FILTERS}}
GEMINI_OUT: dict[StopReason, str] = {
    "end_turn": "STOP", "stop_sequence": "STOP", "tool_use": "STOP", "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS", "context_exceeded": "MAX_TOKENS", "content_filter": "SAFETY",
    "refusal": "SAFETY", "malformed_tool_call": "MALFORMED_FUNCTION_CALL", "other": "OTHER"}


def from_gemini(reason: str | None, has_tool_calls: bool) -> StopReason | None:
    """Gemini has no tool-use reason: a STOP whose candidate called functions means tool use."""
    if reason is None:
        return None
    stop = GEMINI_IN.get(reason, "other")
    return "tool_use" if stop == "end_turn" and has_tool_calls else stop
