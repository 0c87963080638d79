"""Cheap token estimates: the prompt of a request (for the hold) and generated text (when no usage came).

The rule, the same for every protocol, chosen to over-count rather than under-count:

* Text: ceil(UTF-8 bytes / 3). Tokenizers average about 4 bytes per token on English and code and about
  one token per 3-byte CJK character, so bytes/3 over-counts English by about a third and stays close on
  CJK. Every string in the body counts (message text, system prompts, tool schemas, tool results, and the
  JSON keys around them), numbers and booleans do not.
* Structure: 4 tokens per message (`messages`, `contents`, `input` items) and 3 per request, the usual
  chat-template cost of role markers.
* Images: 1,600 tokens each, whatever their size or form (URL, base64, file id): the most a single image
  costs on Anthropic (~1.15 megapixels) and more than OpenAI high detail or a Gemini tile costs.
* Other inline media (base64 or data URLs): PDFs and documents at decoded bytes / 4, audio and video at
  decoded bytes / 32, each at least 1,600. Media referenced only by URI or file id count 1,600. These are
  guesses (a PDF page costs 1,500-3,000 tokens whatever its bytes); billing always settles on reported
  usage, so an estimate only decides how much quota is held.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.protocols import Protocol

BYTES_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REQUEST = 3
TOKENS_PER_IMAGE = 1_600
DOCUMENT_BYTES_PER_TOKEN = 4
MEDIA_BYTES_PER_TOKEN = 32

_MESSAGE_LISTS = ("messages", "contents", "input")
_BINARY_KEYS = frozenset({"data", "file_data", "bytes", "b64_json"})
_IMAGE_TYPES = ("image", "image_url", "input_image")
_MEDIA_TYPES = ("document", "file", "input_file", "input_audio", "audio")
_URI_KEYS = frozenset({"fileData", "file_data", "file_id", "fileUri", "file_uri"})
_BASE64 = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
_MIME_KEYS = ("mimeType", "mime_type", "media_type", "format")


def utf8_len(text: str) -> int:
    """The UTF-8 size of `text`, without encoding ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def tokens_from_chars(size: int) -> int:
    """Tokens for `size` bytes of UTF-8 text (the rule above). A relay's `output_chars` is such a size:
    relays count generated text with `utf8_len`, so CJK output is not under-billed."""
    return -(-max(size, 0) // BYTES_PER_TOKEN)


def count_text_tokens(text: str) -> int:
    """Estimated tokens of generated or prompt text: ceil(UTF-8 bytes / 3)."""
    return tokens_from_chars(utf8_len(text))


def estimate_prompt_tokens(protocol: Protocol, body: Mapping[str, Any]) -> int:
    """Estimated prompt tokens of a request body in `protocol` (rule in the module docstring).

    The walk recognises the content-part shapes of all three protocols, so `protocol` only documents
    the caller's intent; a Gemini body's `contents` and an OpenAI body's `messages` count alike.
    """
    counter = _Counter()
    counter.walk(body)
    messages = sum(len(v) for k in _MESSAGE_LISTS if isinstance(v := body.get(k), list))
    if protocol is Protocol.ANTHROPIC and body.get("system"):
        messages += 1
    if protocol is Protocol.GEMINI and body.get("systemInstruction", body.get("system_instruction")):
        messages += 1
    return (tokens_from_chars(counter.text_bytes) + counter.media_tokens
            + TOKENS_PER_MESSAGE * messages + TOKENS_PER_REQUEST)


class _Counter:
    """Accumulates text bytes and media tokens over a JSON value (iteratively: bodies may nest deep)."""

    __slots__ = ("media_tokens", "text_bytes")

    def __init__(self) -> None:
        self.text_bytes = 0
        self.media_tokens = 0

    def walk(self, root: Any) -> None:
        # Frames are (value, key, parent); a _PartEnd frame closes a media part after its children.
        stack: list[tuple[Any, str | None, Mapping[str, Any] | None]] = [(root, None, None)]
        while stack:
            value, key, parent = stack.pop()
            if isinstance(value, str):
                self._string(value, key, parent)
            elif isinstance(value, _PartEnd):
                if self.media_tokens == value.media_before and not value.text_only:
                    self.media_tokens += TOKENS_PER_IMAGE  # a bare reference (URL, file id)
            elif isinstance(value, Mapping):
                if self._whole_part(value):
                    continue
                if self._is_media_part(value):
                    stack.append((_PartEnd(self.media_tokens, _has_text_source(value)), None, None))
                for k, v in value.items():
                    if isinstance(k, str):
                        self.text_bytes += utf8_len(k)
                        stack.append((v, k, value))
            elif isinstance(value, list):
                stack.extend((item, key, parent) for item in value)

    def _string(self, text: str, key: str | None, parent: Mapping[str, Any] | None) -> None:
        if text.startswith("data:") and ";base64," in text[:200]:
            mime, _, payload = text[5:].partition(";base64,")
            self.media_tokens += _media_tokens(mime, len(payload))
        elif (key in _BINARY_KEYS and len(text) >= 64 and parent is not None
              and parent.get("type") != "text" and _BASE64.fullmatch(text)):
            self.media_tokens += _media_tokens(_mime_of(parent), len(text))
        else:
            self.text_bytes += utf8_len(text)

    def _whole_part(self, part: Mapping[str, Any]) -> bool:
        """Count an image or Gemini inline-data part at once; True if `part` was one."""
        if part.get("type") in _IMAGE_TYPES:
            self.media_tokens += TOKENS_PER_IMAGE
            return True
        inline = part.get("inlineData", part.get("inline_data"))
        if isinstance(inline, Mapping):
            data = inline.get("data")
            self.media_tokens += _media_tokens(_mime_of(inline), len(data) if isinstance(data, str) else 0)
            return True
        return False

    @staticmethod
    def _is_media_part(part: Mapping[str, Any]) -> bool:
        """A document/file/audio part: its payload is found by the walk, else it costs one image."""
        return part.get("type") in _MEDIA_TYPES or any(k in part for k in _URI_KEYS)


class _PartEnd:
    __slots__ = ("media_before", "text_only")

    def __init__(self, media_before: int, text_only: bool) -> None:
        self.media_before = media_before
        self.text_only = text_only


def _has_text_source(part: Mapping[str, Any]) -> bool:
    source = part.get("source")
    return isinstance(source, Mapping) and source.get("type") in ("text", "content")


def _mime_of(obj: Mapping[str, Any]) -> str:
    for key in _MIME_KEYS:
        value = obj.get(key)
        if isinstance(value, str):
            return value.lower()
    return ""


def _media_tokens(mime: str, base64_chars: int) -> int:
    """Tokens for an inline payload of `base64_chars` base64 characters with MIME type `mime`."""
    mime = mime.lower()
    if mime.startswith("image/"):
        return TOKENS_PER_IMAGE
    decoded = base64_chars * 3 // 4
    per_token = MEDIA_BYTES_PER_TOKEN
    if mime.startswith(("application/", "text/")) or not mime:
        per_token = DOCUMENT_BYTES_PER_TOKEN
    return max(TOKENS_PER_IMAGE, -(-decoded // per_token))
