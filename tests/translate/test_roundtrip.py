"""Property: a well-formed conversation translated to another protocol and back keeps its system
prompt, roles, text, tool calls (name and arguments) and tool results (text, and which call each
answers). Conversations are written and read here by small independent renderers, not the adapters."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import translate
from gateway.protocols import Protocol

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
PAIRS = [(a, b) for a in Protocol for b in Protocol if a is not b]

# ---- conversations: [("user", text) | ("assistant", text | None, [(name, args)]) | ("results", [text])]

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
                ).filter(lambda s: s.strip() == s and s != "")
_name = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_args = st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                        st.one_of(st.integers(-1000, 1000), st.booleans(), _text), max_size=3)
# Result texts that parse as a one-key {"output"/"error": str} object are Gemini's own envelope and
# come back unwrapped; everything else (plain text, other JSON) must come back as it went.
_result = st.one_of(_text, _args.map(json.dumps)).filter(lambda s: not _is_envelope(s))


def _is_envelope(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("output", "error")


@st.composite
def conversations(draw: st.DrawFn) -> tuple[str | None, list[tuple[Any, ...]]]:
    system = draw(st.one_of(st.none(), _text))
    turns: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        turns.append(("user", draw(_text)))
        if draw(st.booleans()):
            calls = draw(st.lists(st.tuples(_name, _args), min_size=0, max_size=3))
            text = draw(st.one_of(st.none(), _text)) if calls else draw(_text)
            turns.append(("assistant", text, calls))
            if calls:
                turns.append(("results", [draw(_result) for _ in calls]))
                if draw(st.booleans()):
                    turns.append(("assistant", draw(_text), []))
    return system, turns


# ---- rendering a conversation in each wire format --------------------------------------------

def render(proto: Protocol, system: str | None, turns: list[tuple[Any, ...]]) -> dict[str, Any]:
    if proto is OPENAI:
        return _openai(system, turns)
    if proto is ANTHROPIC:
        return _anthropic(system, turns)
    return _gemini(system, turns)


def _openai(system: str | None, turns: list[tuple[Any, ...]]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    n = 0
    for turn in turns:
        if turn[0] == "user":
            messages.append({"role": "user", "content": turn[1]})
        elif turn[0] == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": turn[1]}
            if turn[2]:
                msg["tool_calls"] = [{"id": f"call_{n + i}", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(args)}}
                                     for i, (name, args) in enumerate(turn[2])]
            messages.append(msg)
        else:
            messages += [{"role": "tool", "tool_call_id": f"call_{n + i}", "content": text}
                         for i, text in enumerate(turn[1])]
            n += len(turn[1])
    return {"model": "m", "messages": messages}


def _anthropic(system: str | None, turns: list[tuple[Any, ...]]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    n = 0

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += blocks
        else:
            messages.append({"role": role, "content": blocks})

    for turn in turns:
        if turn[0] == "user":
            add("user", [{"type": "text", "text": turn[1]}])
        elif turn[0] == "assistant":
            blocks = [{"type": "text", "text": turn[1]}] if turn[1] else []
            blocks += [{"type": "tool_use", "id": f"toolu_{n + i}", "name": name, "input": args}
                       for i, (name, args) in enumerate(turn[2])]
            add("assistant", blocks)
        else:
            add("user", [{"type": "tool_result", "tool_use_id": f"toolu_{n + i}", "content": text}
                         for i, text in enumerate(turn[1])])
            n += len(turn[1])
    body: dict[str, Any] = {"model": "m", "max_tokens": 100, "messages": messages}
    if system:
        body["system"] = system
    return body


def _gemini(system: str | None, turns: list[tuple[Any, ...]]) -> dict[str, Any]:
    contents: list[dict[str, Any]] = []
    names: list[str] = []

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": role, "parts": parts})

    for turn in turns:
        if turn[0] == "user":
            add("user", [{"text": turn[1]}])
        elif turn[0] == "assistant":  # Gemini's calls carry no ids
            parts = [{"text": turn[1]}] if turn[1] else []
            parts += [{"functionCall": {"name": name, "args": args}} for name, args in turn[2]]
            names = [name for name, _ in turn[2]]
            add("model", parts)
        else:
            add("user", [{"functionResponse": {"name": name, "response": {"output": text}}}
                         for name, text in zip(names, turn[1], strict=True)])
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    return body


# ---- reading any of them back into (system, [(role, items)]) ---------------------------------

def normalise(proto: Protocol, body: dict[str, Any]) -> tuple[str, list[tuple[str, list[Any]]]]:
    turns: list[tuple[str, list[Any]]] = []
    call_order: dict[str, int] = {}

    def add(role: str, item: Any) -> None:
        if turns and turns[-1][0] == role:
            turns[-1][1].append(item)
        else:
            turns.append((role, [item]))

    def call(call_id: str, name: str, args: Any) -> None:
        call_order[call_id] = len(call_order)
        add("assistant", ("call", name, args))

    def result(call_id: str, text: str) -> None:
        add("tool", ("result", call_order.get(call_id, call_id), text))

    if proto is OPENAI:
        system = "".join(_text_of(m["content"]) for m in body["messages"] if m["role"] == "system")
        for m in body["messages"]:
            if m["role"] == "user":
                add("user", ("text", _text_of(m["content"])))
            elif m["role"] == "assistant":
                if m.get("content"):
                    add("assistant", ("text", _text_of(m["content"])))
                for c in m.get("tool_calls") or []:
                    call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            elif m["role"] == "tool":
                result(m["tool_call_id"], m["content"])
    elif proto is ANTHROPIC:
        system = body.get("system", "")
        for m in body["messages"]:
            blocks = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
            for b in sorted(blocks, key=lambda b: b["type"] != "tool_result"):
                if b["type"] == "text":
                    add(m["role"], ("text", b["text"]))
                elif b["type"] == "tool_use":
                    call(b["id"], b["name"], b["input"])
                elif b["type"] == "tool_result":
                    result(b["tool_use_id"], b["content"] if isinstance(b["content"], str)
                           else "".join(x["text"] for x in b["content"]))
    else:
        system = "".join(p["text"] for p in (body.get("systemInstruction") or {}).get("parts", []))
        pending: list[str] = []
        for i, c in enumerate(body["contents"]):
            role = "assistant" if c["role"] == "model" else "user"
            parts = sorted(c["parts"], key=lambda p: "functionResponse" not in p)
            for j, p in enumerate(parts):
                if "text" in p:
                    add(role, ("text", p["text"]))
                elif "functionCall" in p:
                    call_id = p["functionCall"].get("id") or f"{i}.{j}"
                    pending.append(call_id)
                    call(call_id, p["functionCall"]["name"], p["functionCall"]["args"])
                else:
                    response = p["functionResponse"]
                    call_id = response.get("id") or pending[0]
                    pending.remove(call_id)
                    payload = response["response"]
                    result(call_id, payload["output"] if set(payload) == {"output"} else json.dumps(payload))
    return system, [(role, [_merge_text(i) for i in items]) for role, items in _joined(turns)]


def _text_of(content: Any) -> str:
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def _joined(turns: list[tuple[str, list[Any]]]) -> list[tuple[str, list[Any]]]:
    """Adjacent texts of one turn joined: protocols differ in how many text parts they keep."""
    out = []
    for role, items in turns:
        joined: list[Any] = []
        for item in items:
            if item[0] == "text" and joined and joined[-1][0] == "text":
                joined[-1] = ("text", joined[-1][1] + item[1])
            else:
                joined.append(item)
        out.append((role, joined))
    return out


def _merge_text(item: Any) -> Any:
    if item[0] == "result":
        try:
            value = json.loads(item[2])
        except ValueError:
            return item
        return (item[0], item[1], value) if isinstance(value, dict) else item
    return item


def _roundtrip(door: Protocol, channel: Protocol, body: dict[str, Any]) -> dict[str, Any]:
    there = translate.chat_request(door, channel, body, upstream_model="m", stream=False,
                                   default_max_tokens=100)
    back = translate.chat_request(channel, door, there.body, upstream_model="m", stream=False,
                                  default_max_tokens=100)
    assert not there.dropped and not back.dropped
    return back.body


@settings(max_examples=60, deadline=None)
@given(conversation=conversations(), pair=st.sampled_from(PAIRS))
def test_translated_there_and_back_keeps_the_conversation(
        conversation: tuple[str | None, list[tuple[Any, ...]]], pair: tuple[Protocol, Protocol]) -> None:
    door, channel = pair
    body = render(door, *conversation)
    assert normalise(door, _roundtrip(door, channel, body)) == normalise(door, body)


@settings(max_examples=40, deadline=None)
@given(conversation=conversations(), pair=st.sampled_from(PAIRS))
def test_translation_keeps_the_conversation(
        conversation: tuple[str | None, list[tuple[Any, ...]]], pair: tuple[Protocol, Protocol]) -> None:
    door, channel = pair
    there = translate.chat_request(door, channel, render(door, *conversation), upstream_model="m",
                                   stream=False, default_max_tokens=100)
    assert normalise(channel, there.body) == normalise(channel, render(channel, *conversation))
