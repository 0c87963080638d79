"""The Python floor: a bare aiohttp reverse proxy. One ClientSession, forward the body, relay the bytes.

`python -m bench.proxy --port P --upstream http://127.0.0.1:U [--uvloop]`. No auth, no parsing, no
accounting: whatever the gateway costs above this is the price of being a gateway.
"""

from __future__ import annotations

import argparse

import aiohttp  # noqa: TID251 - the benchmark's own proxy, not gateway code
from aiohttp import web  # noqa: TID251

HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=20_000_000)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        app[session_key] = aiohttp.ClientSession(upstream, connector=connector, auto_decompress=False,
                                                 timeout=aiohttp.ClientTimeout(total=None))
        yield
        await app[session_key].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with app[session_key].request(request.method, request.path_qs, data=body,
                                            headers=headers) as up:
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
            if up.headers.get("content-length") is not None:
                return web.Response(status=up.status, body=await up.read(), headers=out_headers)
            response = web.StreamResponse(status=up.status, headers=out_headers)
            await response.prepare(request)
            async for chunk in up.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(lifecycle)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (the default is asyncio's loop)")
    args = parser.parse_args()
    loop = None
    if args.uvloop:
        import uvloop
        loop = uvloop.new_event_loop()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port, access_log=None, print=None,
                backlog=1024, loop=loop)


if __name__ == "__main__":
    main()
