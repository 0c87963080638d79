"""The fake Gemini's GenerateContentResponse: whole, or as stream chunks with cumulative usageMetadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.script import Behaviour, Tokens, estimate_tokens, split_text

_SAFETY = [
    {"category": f"HARM_CATEGORY_{name}", "probability": "NEGLIGIBLE"}
    for name in ("HATE_SPEECH", "DANGEROUS_CONTENT", "HARASSMENT", "SEXUALLY_EXPLICIT")
]


@dataclass
class GeminiReply:
    """What the scripted behaviour answers to one generateContent / streamGenerateContent request."""

    behaviour: Behaviour
    model: str
    response_id: str
    signature: str | None  # thoughtSignature on the first functionCall part of a thinking model
    prompt_tokens: int
    functions: bool  # the request declares functions, so scripted calls are made
    thoughts: bool  # the request asks for thought parts (includeThoughts)
    grounding: bool  # the request has a search tool and the behaviour asks for groundingMetadata

    def tokens(self) -> Tokens:
        if self.behaviour.tokens is not None:
            return self.behaviour.tokens
        calls = self.calls()
        written = (
            "".join(str(call["functionCall"]) for call in calls) if calls else self.behaviour.full_text()
        )
        thinking = self.behaviour.thinking
        return Tokens(
            input=self.prompt_tokens,
            output=estimate_tokens(written),
            reasoning=estimate_tokens(thinking) if thinking else 0,
        )

    def usage(self, output: int) -> dict[str, Any]:
        """usageMetadata with proto3 JSON habits: counts that are zero are left out."""
        tokens = self.tokens()
        counts: dict[str, Any] = {
            "promptTokenCount": tokens.input,
            "candidatesTokenCount": output,
            "totalTokenCount": tokens.input + output + tokens.reasoning,
            "cachedContentTokenCount": tokens.cached,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens.input}],
            "thoughtsTokenCount": tokens.reasoning,
        }
        if tokens.cached:
            counts["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": tokens.cached}]
        usage = {key: value for key, value in counts.items() if value != 0}
        usage.update(self.behaviour.usage_override or {})
        return usage

    def calls(self) -> list[dict[str, Any]]:
        if not self.functions:
            return []
        parts: list[dict[str, Any]] = [
            {"functionCall": {"name": call.name, "args": call.arguments_object()}}
            for call in self.behaviour.tool_calls
        ]
        if parts and self.signature:
            parts[0]["thoughtSignature"] = self.signature
        return parts

    def _candidate(self, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if final:
            candidate["finishReason"] = self.behaviour.finish_reason or "STOP"
            candidate["safetyRatings"] = _SAFETY
            if self.grounding:
                candidate["groundingMetadata"] = self._grounding()
        candidate["index"] = 0
        return candidate

    def _grounding(self) -> dict[str, Any]:
        text = self.behaviour.full_text()
        return {
            "webSearchQueries": ["fake upstream query"],
            "searchEntryPoint": {"renderedContent": '<div class="container">fake search chip</div>'},
            "groundingChunks": [
                {
                    "web": {
                        "uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake",
                        "title": "example.com",
                    }
                }
            ],
            "groundingSupports": [
                {
                    "segment": {"startIndex": 0, "endIndex": len(text.encode()), "text": text},
                    "groundingChunkIndices": [0],
                    "confidenceScores": [0.93],
                }
            ],
        }

    def _envelope(self, candidate: dict[str, Any], output: int) -> dict[str, Any]:
        return {
            "candidates": [candidate],
            "usageMetadata": self.usage(output),
            "modelVersion": self.model,
            "responseId": self.response_id,
        }

    def whole(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self.thoughts and self.behaviour.thinking:
            parts.append({"text": self.behaviour.thinking, "thought": True})
        calls = self.calls()
        parts += calls or [{"text": self.behaviour.full_text()}]
        return self._envelope(self._candidate(parts, final=True), self.tokens().output)

    def chunks(self) -> list[dict[str, Any]]:
        """Thought parts first, then text pieces (or the function calls, whole), the last one with
        finishReason; every chunk carries usageMetadata with candidatesTokenCount growing to the total."""
        thought_steps: list[list[dict[str, Any]]] = []
        if self.thoughts and self.behaviour.thinking:
            thought_steps = [
                [{"text": piece, "thought": True}]
                for piece in split_text(self.behaviour.thinking, self.behaviour.chunks)
            ]
        calls = self.calls()
        answer_steps = (
            [calls]
            if calls
            else [[{"text": piece}] for piece in self.behaviour.text_pieces()] or [[{"text": ""}]]
        )
        steps = thought_steps + answer_steps
        output = self.tokens().output
        chunks = []
        for index, parts in enumerate(steps):
            done = max(0, index - len(thought_steps) + 1)
            so_far = output * done // len(answer_steps)
            chunks.append(self._envelope(self._candidate(parts, final=index == len(steps) - 1), so_far))
        return chunks
