"""The `gateway` command: serve, check a config, read the ledger (tokens, logs, stats), key helpers."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
from collections.abc import Callable, Sequence

from gateway import cli_read
from gateway.cli_read import CONFIG_HELP, config_path
from gateway.config import ConfigError, load_config
from gateway.config.models import GatewayConfig


def _load_or_report(path: str, refusal: str) -> GatewayConfig | None:
    """The config at `path`, or None after printing every problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as err:
        print(f"{path}: {refusal}", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    config = _load_or_report(path, "invalid configuration")
    if config is None:
        return 1
    print(f"{path}: ok ({len(config.channels)} channels, {len(config.tokens)} tokens)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import serve

    path = config_path(args.config)
    if _load_or_report(path, "invalid configuration, not starting") is None:
        return 1
    watch = None if args.no_watch else args.watch_interval
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(path, host=args.host, port=args.port, demo_port=args.demo_upstream,
                                watch_interval=watch))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (the `fast` extra; scripts/serve installs it), unless GATEWAY_LOOP=asyncio."""
    if os.environ.get("GATEWAY_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def cmd_hash_key(args: argparse.Namespace) -> int:
    print(hashlib.sha256(args.key.encode()).hexdigest())
    return 0


def cmd_new_key(args: argparse.Namespace) -> int:
    key = "sk-" + secrets.token_urlsafe(32)
    print(f"key:        {key}")
    print(f"key_sha256: {hashlib.sha256(key.encode()).hexdigest()}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="A self-hosted LLM API gateway.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("-c", "--config", help=CONFIG_HELP)
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port (0: any free port)")
    serve.add_argument("--demo-upstream", type=int, metavar="PORT",
                       help="also run the local demo upstream on 127.0.0.1:PORT")
    serve.add_argument("--watch-interval", type=float, default=1.0, metavar="SECONDS",
                       help="how often to look for changes of the config file (default 1)")
    serve.add_argument("--no-watch", action="store_true",
                       help="do not reload when the file changes (SIGHUP and POST /api/reload still do)")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="validate a config file and list every problem")
    check.add_argument("-c", "--config", help=CONFIG_HELP)
    check.set_defaults(func=cmd_check)
    cli_read.add_commands(sub)
    hash_key = sub.add_parser("hash-key", help="print the key_sha256 of a key")
    hash_key.add_argument("key")
    hash_key.set_defaults(func=cmd_hash_key)
    new_key = sub.add_parser("new-key", help="make a fresh key and print it with its key_sha256")
    new_key.set_defaults(func=cmd_new_key)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
