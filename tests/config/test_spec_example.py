"""The SPEC §3 example, verbatim but for the full key hash, parses into the values it describes."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime

from gateway.config import parse_config
from gateway.protocols import Protocol

SPEC_EXAMPLE = """\
server:
  host: 127.0.0.1
  port: 8080
  admin_key: ${GATEWAY_ADMIN_KEY}   # guards /api/*, /metrics details and /dashboard
  timezone: UTC                     # day boundary of daily statistics
  max_body_bytes: 20_000_000
database:
  path: data/gateway.db             # SQLite ledger; created on first start
billing:
  quota_per_usd: 500000             # 500000 quota = 1 USD (the one-api family's unit)
  hold_output_tokens: 4096          # output tokens held when a request names no max
pricing:                            # USD per 1M tokens; glob patterns, most specific wins
  "gpt-4o-mini*": {input: 0.15, output: 0.60, cached_input: 0.075}
  "claude-sonnet-*": {input: 3, output: 15, cached_input: 0.30, cache_write: 3.75}
  "text-embedding-3-small": {input: 0.02}
  "dall-e-3": {per_request: 0.04}
groups:                             # a token's group picks its channels and its multiplier
  default: {multiplier: 1.0}
  vip: {multiplier: 0.8}
routing:
  retries: 2                        # further channels tried before the caller sees an error
  cooldown_seconds: 30              # a channel+model sits out after 429/5xx/timeout
channels:
  - name: openai-main               # unique; used in logs, statistics and channel selection
    type: openai                    # openai | anthropic | gemini
    base_url: https://api.openai.com
    keys: [${OPENAI_API_KEY}]       # several keys rotate; a key answered with 401 is set aside
    models: ["gpt-4o*", "o3*", "text-embedding-3-*"]   # globs
    model_map: {gpt-4: gpt-4o}      # requested name -> upstream name
    groups: [default, vip]
    priority: 10                    # higher tiers are tried first
    weight: 3                       # weighted random inside a tier
    multiplier: 1.0                 # this channel's price multiplier
    proxy: socks5://127.0.0.1:1080  # http://, https://, socks5://, socks5h://
    headers: {OpenAI-Organization: org-123}
    timeouts: {connect: 10, first_byte: 120, idle: 60}
    enabled: true
tokens:
  - name: alice                     # shown in logs and statistics; never the key
    key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # or key: sk-…
    quota: "$20"                    # or unlimited: true
    group: default
    models: ["gpt-4o*", "claude-*"] # optional allowlist (globs)
    ips: [10.0.0.0/8, 127.0.0.1]    # optional allowlist (CIDR)
    expires_at: 2027-01-01T00:00:00Z
    rpm: 600                        # optional rate limits
    channel_select: false           # may this token pick a channel (§5)?
"""

ENV = {"GATEWAY_ADMIN_KEY": "admin-secret", "OPENAI_API_KEY": "sk-openai"}


def test_spec_example_parses() -> None:
    cfg = parse_config(SPEC_EXAMPLE, ENV)
    assert cfg.server.admin_key is not None and cfg.server.admin_key.get_secret_value() == "admin-secret"
    assert cfg.server.max_body_bytes == 20_000_000
    assert cfg.pricing["claude-sonnet-*"].cache_write == 3.75
    assert cfg.pricing["dall-e-3"].per_request == 0.04
    assert cfg.group("vip").multiplier == 0.8
    channel = cfg.channel("openai-main")
    assert channel is not None
    assert channel.type is Protocol.OPENAI
    assert [key.get_secret_value() for key in channel.keys] == ["sk-openai"]
    assert channel.model_map == {"gpt-4": "gpt-4o"}
    assert (channel.priority, channel.weight, channel.proxy) == (10, 3, "socks5://127.0.0.1:1080")
    assert channel.headers == {"OpenAI-Organization": "org-123"}
    (alice,) = cfg.tokens
    assert alice is cfg.find_token(hashlib.sha256(b"test").hexdigest())
    assert alice.grant == 20 * 500_000
    assert alice.ips == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]
    assert alice.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert (alice.rpm, alice.channel_select) == (600, False)
