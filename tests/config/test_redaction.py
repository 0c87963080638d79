"""The redacted view is plain JSON and holds no secret."""

from __future__ import annotations

import json

from gateway.config import REDACTED, redacted
from tests.config.helpers import parse

SECRETS = {
    "ADMIN": "admin-s3cret-value",
    "UP1": "sk-upstream-one-s3cret",
    "UP2": "sk-upstream-two-s3cret",
    "PROXY_PW": "proxy-pa55word",
    "ORG": "org-s3cret-header",
    "TOKEN_KEY": "sk-caller-s3cret",
}
HASH = "ab" * 32

TEXT = f"""\
server: {{admin_key: ${{ADMIN}}}}
channels:
  - name: main
    type: openai
    base_url: https://api.openai.com/
    keys: [${{UP1}}, ${{UP2}}]
    models: ["*"]
    proxy: socks5h://user:${{PROXY_PW}}@127.0.0.1:1080
    headers: {{OpenAI-Organization: ${{ORG}}}}
  - name: plain
    type: gemini
    base_url: https://generativelanguage.googleapis.com
    models: ["gemini-*"]
    proxy: http://127.0.0.1:3128
tokens:
  - {{name: alice, key: ${{TOKEN_KEY}}, quota: "$1", ips: [10.0.0.0/8], expires_at: 2027-01-01T00:00:00Z}}
  - {{name: bob, key_sha256: {HASH}, unlimited: true}}
"""


def test_no_secret_survives() -> None:
    view = redacted(parse(TEXT, SECRETS))
    dumped = json.dumps(view)  # also proves the view is JSON-able
    for secret in [*SECRETS.values(), HASH, "user:"]:
        assert secret not in dumped


def test_shape_is_kept_and_secrets_are_masked() -> None:
    view = redacted(parse(TEXT, SECRETS))
    main, plain = view["channels"]
    assert view["server"]["admin_key"] == REDACTED
    assert main["keys"] == [REDACTED, REDACTED]
    assert main["proxy"] == f"socks5h://{REDACTED}@127.0.0.1:1080"
    assert main["headers"] == {"OpenAI-Organization": REDACTED}
    assert main["base_url"] == "https://api.openai.com"
    assert (plain["keys"], plain["proxy"]) == ([], "http://127.0.0.1:3128")
    alice, bob = view["tokens"]
    assert (alice["key"], alice["key_sha256"], alice["quota"]) == (REDACTED, None, 500_000)
    assert (alice["ips"], alice["expires_at"]) == (["10.0.0.0/8"], "2027-01-01T00:00:00Z")
    assert (bob["key"], bob["key_sha256"], bob["unlimited"]) == (None, REDACTED, True)


def test_absent_admin_key_stays_null() -> None:
    text = TEXT.replace("server: {admin_key: ${ADMIN}}\n", "")
    assert redacted(parse(text, SECRETS))["server"]["admin_key"] is None
