"""Gemini contents and parts to and from neutral messages, with tool-call ids Gemini does not carry."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.translate import media as media_util
from gateway.translate.neutral import (
    Drops,
    Json,
    Media,
    Message,
    Part,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from gateway.translate.wire import arguments_object, concept, dumps, loads

GEMINI = Protocol.GEMINI


# ---- Gemini -> neutral ---------------------------------------------------------------------------

def read_content_parts(contents: list[Any], drops: Drops) -> list[Message]:
    """Contents as neutral turns. A call without an id gets `call_<content>_<part>`; a response
    without an id answers the oldest open call of the same name (else the next open one)."""
    messages: list[Message] = []
    open_calls: list[ToolCall] = []
    for ci, content in enumerate(contents):
        if not isinstance(content, dict):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        results: list[Part] = []
        parts: list[Part] = []
        listed = content.get("parts")
        for pi, part in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(part, dict):
                continue
            if role == "assistant" and isinstance(part.get("functionCall"), dict):
                call = read_function_call(part, f"call_{ci}_{pi}")
                open_calls.append(call)
                parts.append(call)
            elif isinstance(part.get("functionResponse"), dict):
                results.append(_read_function_response(part["functionResponse"], open_calls,
                                                       f"call_{ci}_{pi}", drops))
            else:
                read_plain_part(part, parts, drops)
        if role == "assistant":
            open_calls = [p for p in parts if isinstance(p, ToolCall)]
        for group_role, group in (("tool", results), (role, parts)):
            if not group:
                continue
            if messages and messages[-1].role == group_role:
                messages[-1].parts.extend(group)
            else:
                messages.append(Message(group_role, group))  # type: ignore[arg-type]
    return messages


def read_function_call(part: Json, fallback_id: str) -> ToolCall:
    call = part["functionCall"]
    return ToolCall(str(call.get("id") or fallback_id), str(call.get("name", "")),
                    dumps(call.get("args") or {}), signature=part.get("thoughtSignature"))


def read_plain_part(part: Json, parts: list[Part], drops: Drops) -> None:
    """Text, thought, inline data or file data; anything else is reported."""
    if isinstance(part.get("text"), str):
        if part.get("thought") is True:
            parts.append(Thinking(part["text"], _str(part.get("thoughtSignature")), GEMINI))
            return
        parts.append(Text(part["text"]))
        if part.get("thoughtSignature"):
            drops.add("contents.parts.thoughtSignature")
    elif isinstance(part.get("inlineData"), dict):
        blob = part["inlineData"]
        parts.append(Media(mime=_str(blob.get("mimeType")), data=_str(blob.get("data"))))
    elif isinstance(part.get("fileData"), dict):
        file = part["fileData"]
        uri = str(file.get("fileUri", ""))
        parts.append(Media(mime=_str(file.get("mimeType")) or media_util.guess_mime(uri), url=uri))
    else:
        drops.add("contents.parts." + next(iter(part), "empty"))


def _str(value: Any) -> str | None:
    """A string field as given; anything else a caller put there counts as absent."""
    return value if isinstance(value, str) else None


def _read_function_response(response: Json, open_calls: list[ToolCall], fallback_id: str,
                            drops: Drops) -> ToolResult:
    name = str(response.get("name", ""))
    match = next((c for c in open_calls if response.get("id") and c.id == response.get("id")), None)
    match = match or next((c for c in open_calls if c.name == name), None)
    match = match or (open_calls[0] if open_calls and not response.get("id") else None)
    if match is not None:
        open_calls.remove(match)
    call_id = match.id if match else str(response.get("id") or fallback_id)
    if response.get("parts"):
        drops.add("contents.parts.functionResponse.parts")
    payload = response.get("response")
    return ToolResult(call_id, name or (match.name if match else ""), [Text(_result_text(payload))],
                      is_error=_is_error(payload))


def _result_text(payload: Any) -> str:
    """Gemini's documented convention: "output" holds the result, "error" the failure; anything
    else is the whole result, carried as JSON text."""
    if isinstance(payload, dict) and len(payload) == 1:
        value = next(iter(payload.values()))
        if next(iter(payload)) in ("output", "error") and isinstance(value, str):
            return value
    return dumps(payload if payload is not None else {})


def _is_error(payload: Any) -> bool:
    return isinstance(payload, dict) and set(payload) == {"error"}


# ---- neutral -> Gemini ---------------------------------------------------------------------------

def write_message_parts(parts: list[Part], door: Protocol, drops: Drops) -> list[Json]:
    """Parts of one turn. Media a tool returned follow the functionResponse parts as inline parts
    (functionResponse.parts is not read by every Gemini model)."""
    out: list[Json] = []
    trailing: list[Json] = []
    for part in parts:
        written = _write_part(part, door, drops)
        if written is not None:
            out.append(written)
        if isinstance(part, ToolResult):
            trailing += [m for m in (write_media(c, door, drops) for c in part.content
                                     if isinstance(c, Media)) if m]
    return out + trailing


def _write_part(part: Part, door: Protocol, drops: Drops) -> Json | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Media):
        return write_media(part, door, drops)
    if isinstance(part, ToolCall):
        args = arguments_object(part.arguments)
        if args is None:
            drops.add("tool_calls.function.arguments")
            args = {}
        out: Json = {"functionCall": {"id": part.id, "name": part.name, "args": args}}
        if part.signature:
            out["thoughtSignature"] = part.signature
        return out
    if isinstance(part, ToolResult):
        text = "".join(c.text for c in part.content if isinstance(c, Text))
        return {"functionResponse": {"id": part.call_id, "name": part.name or part.call_id,
                                     "response": _result_payload(text, part.is_error)}}
    if part.origin is GEMINI and part.signature:
        return {"text": part.text, "thought": True, "thoughtSignature": part.signature}
    if part.text or part.signature:
        drops.add(concept("thinking", door))  # thoughts without Gemini's own signature are not read
    return None


def write_media(media: Media, door: Protocol, drops: Drops) -> Json | None:
    """Inline data as inlineData; a URL as fileData (Gemini fetches http(s) and gs:// itself)."""
    if media.url is not None:
        file: Json = {"fileUri": media.url}
        if media.mime:
            file = {"mimeType": media.mime, **file}
        return {"fileData": file}
    if media.data is None:
        drops.add(concept("media", door))
        return None
    return {"inlineData": {"mimeType": media.mime or "application/octet-stream", "data": media.data}}


def _result_payload(text: str, is_error: bool) -> Json:
    if is_error:
        return {"error": text}
    parsed = loads(text)
    return parsed if isinstance(parsed, dict) else {"output": text}
