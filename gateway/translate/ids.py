"""Tool-call ids: Gemini's missing ones synthesised, and Gemini thought signatures carried inside ids.

Gemini 3 refuses a tool-use history whose function calls lost their `thoughtSignature`, but OpenAI and
Anthropic callers have no field for it. The signature therefore rides in the tool call id the caller
sees (`<id>__gsig__<the signature's text in base64url>`), which the caller echoes back verbatim; only a Gemini
upstream gets it back as `thoughtSignature`, every other upstream sees the bare id.
"""

from __future__ import annotations

import base64
import binascii

_MARK = "__gsig__"


def synthetic(response_id: str, position: int, candidate: int = 0) -> str:
    """A stable id for the `position`-th function call of a Gemini reply that carried none."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in response_id)
    suffix = f"{candidate}_{position}" if candidate else str(position)
    return f"call_{safe}_{suffix}" if safe else f"call_{suffix}"


def embed(call_id: str, signature: str | None) -> str:
    if not signature:
        return call_id
    return call_id + _MARK + base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")


def split(call_id: str) -> tuple[str, str | None]:
    """(bare id, the Gemini signature it carried or None)."""
    bare, mark, encoded = call_id.partition(_MARK)
    if not mark or not encoded:
        return call_id, None
    try:
        return bare, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return call_id, None
