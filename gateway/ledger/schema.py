"""The ledger's SQLite schema as an ordered list of migrations, applied by `PRAGMA user_version`.

Migration N (1-based) brings a database from user_version N−1 to N. Never edit a released
migration; append a new one.
"""

from __future__ import annotations

from gateway.ledger import latency

# Every LogRow field, in the order used for inserts and selects (the `id` column comes first
# in selects and is not part of this list).
LOG_COLUMNS: tuple[str, ...] = (
    "request_id", "token", "model", "time", "upstream_model", "channel", "protocol", "endpoint",
    "stream", "status", "outcome", "prompt_tokens", "completion_tokens", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "quota", "request_time_ms", "first_byte_ms",
    "client_ip", "error", "attempts", "usage_estimated", "flags",
)

_V1 = """
CREATE TABLE token_usage (
    token    TEXT PRIMARY KEY,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),      -- sum of settled quota
    held     INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),      -- sum of open holds
    requests INTEGER NOT NULL DEFAULT 0 CHECK (requests >= 0)   -- log rows written for the token
) WITHOUT ROWID;

CREATE TABLE holds (
    request_id TEXT PRIMARY KEY,
    token      TEXT NOT NULL REFERENCES token_usage (token),
    model      TEXT NOT NULL DEFAULT '',
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    state      TEXT NOT NULL DEFAULT 'open'
               CHECK (state IN ('open', 'settled', 'released', 'abandoned')),
    boot_id    TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at  REAL
);
-- Only open holds are looked up in bulk (recovery at start); keep the index small.
CREATE INDEX holds_open ON holds (boot_id) WHERE state = 'open';

CREATE TABLE logs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id         TEXT NOT NULL,
    token              TEXT NOT NULL REFERENCES token_usage (token),
    model              TEXT NOT NULL,
    time               REAL NOT NULL,
    upstream_model     TEXT NOT NULL DEFAULT '',
    channel            TEXT NOT NULL DEFAULT '',
    protocol           TEXT NOT NULL DEFAULT '',
    endpoint           TEXT NOT NULL DEFAULT '',
    stream             INTEGER NOT NULL DEFAULT 0,
    status             INTEGER NOT NULL DEFAULT 0,
    outcome            TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled', 'abandoned')),
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    quota              INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
    request_time_ms    INTEGER NOT NULL DEFAULT 0,
    first_byte_ms      INTEGER,
    client_ip          TEXT NOT NULL DEFAULT '',
    error              TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    usage_estimated    INTEGER NOT NULL DEFAULT 0,
    flags              TEXT NOT NULL DEFAULT ''
);
-- One row per call: a second row for the same request id is refused by the database itself.
CREATE UNIQUE INDEX logs_request_id ON logs (request_id);
-- Pages are read newest first (id DESC), optionally filtered by one of these columns.
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_token ON logs (token, id);
CREATE INDEX logs_model ON logs (model, id);
CREATE INDEX logs_channel ON logs (channel, id);
CREATE INDEX logs_outcome ON logs (outcome, id);
"""

# Daily statistics, one row per (day, token, channel, model), kept by the same transaction that writes
# each log row. `day` is the row's time as a date in the zone named by ledger_meta 'stats_timezone'.
_LATENCY_COLUMNS = "".join(f"    {column} INTEGER NOT NULL DEFAULT 0,\n" for column in latency.COLUMNS)
_V2 = f"""
CREATE TABLE ledger_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE daily_stats (
    day                TEXT NOT NULL,               -- YYYY-MM-DD in the statistics time zone
    token              TEXT NOT NULL,
    channel            TEXT NOT NULL,
    model              TEXT NOT NULL,
    requests           INTEGER NOT NULL DEFAULT 0,
    errors             INTEGER NOT NULL DEFAULT 0,  -- outcome error or abandoned
    cancelled          INTEGER NOT NULL DEFAULT 0,
    quota              INTEGER NOT NULL DEFAULT 0,
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    request_time_ms    INTEGER NOT NULL DEFAULT 0,  -- summed over every row
    first_byte_ms      INTEGER NOT NULL DEFAULT 0,  -- summed over rows that had a first byte
    first_byte_count   INTEGER NOT NULL DEFAULT 0,
    -- successful calls by request time, one column per bucket of gateway/ledger/latency.py
{_LATENCY_COLUMNS}    latency_max_ms     INTEGER NOT NULL DEFAULT 0,  -- longest successful call
    PRIMARY KEY (day, token, channel, model)
) WITHOUT ROWID;
-- A token's own days (self-service) without scanning every token's.
CREATE INDEX daily_stats_token ON daily_stats (token, day);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)

SCHEMA_VERSION = len(MIGRATIONS)
