"""The neutral model of a chat call that every protocol adapter reads into and writes out of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.protocols import Protocol, Usage

Json = dict[str, Any]


# ---- content parts -------------------------------------------------------------------------------

@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Media:
    """An image or document: inline base64 `data`, or a `url` the upstream fetches itself."""

    mime: str | None
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class Thinking:
    """Reasoning text. `signature` is opaque and only meaningful to the protocol it came from."""

    text: str
    signature: str | None = None
    origin: Protocol | None = None
    redacted: bool = False


@dataclass(slots=True)
class ToolCall:
    """A function call by the model. `arguments` is JSON text; `signature` is a Gemini thoughtSignature."""

    id: str
    name: str
    arguments: str
    signature: str | None = None


@dataclass(slots=True)
class ToolResult:
    call_id: str
    name: str
    content: list[Text | Media]
    is_error: bool = False


Part = Text | Media | Thinking | ToolCall | ToolResult
Role = Literal["user", "assistant", "tool"]


@dataclass(slots=True)
class Message:
    """One turn. Role "tool" holds only ToolResults (OpenAI tool messages, Anthropic tool_result blocks)."""

    role: Role
    parts: list[Part]


# ---- request -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: Json | None = None  # JSON Schema
    strict: bool | None = None


ToolMode = Literal["auto", "none", "required", "named"]


@dataclass(slots=True)
class ToolChoice:
    mode: ToolMode
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"]
    schema: Json | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Reasoning:
    """How much to think. `effort` "none" means thinking off; `budget` -1 means the model decides."""

    effort: str | None = None
    budget: int | None = None
    include_thoughts: bool | None = None


@dataclass(slots=True)
class ChatRequest:
    system: list[Text] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    sampling: dict[str, Any] = field(default_factory=dict)  # neutral names from fields.SAMPLING
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None


# ---- response ------------------------------------------------------------------------------------

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "content_filter", "refusal",
                     "pause_turn", "context_exceeded", "malformed_tool_call", "other"]


@dataclass(slots=True)
class Choice:
    parts: list[Part]
    stop: StopReason | None = None
    stop_sequence: str | None = None
    index: int = 0


@dataclass(slots=True)
class ChatResponse:
    id: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int | None = None


# ---- stream events -------------------------------------------------------------------------------

@dataclass(slots=True)
class StreamStart:
    id: str


@dataclass(slots=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(slots=True)
class ThinkingDelta:
    text: str
    signature: str | None = None
    choice: int = 0


@dataclass(slots=True)
class ToolCallStart:
    index: int  # position among this choice's tool calls (OpenAI's tool_calls[].index)
    id: str
    name: str
    choice: int = 0
    signature: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    choice: int = 0


@dataclass(slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(slots=True)
class Finish:
    reason: StopReason
    choice: int = 0
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamEnd:
    """The upstream's own end marker (OpenAI [DONE], Anthropic message_stop, Gemini end of stream)."""


@dataclass(slots=True)
class StreamError:
    status: int
    message: str


StreamEvent = (StreamStart | TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | UsageUpdate
               | Finish | StreamEnd | StreamError)


# ---- what could not be carried -------------------------------------------------------------------

@dataclass(slots=True)
class Drops:
    """Names of fields that could not be carried, in order, each once (for x-gateway-dropped)."""

    names: list[str] = field(default_factory=list)

    def add(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)
