"""Child process for the service benchmark: the real service plus two bare baseline routes.

`python -m bench.serve DB_URL PORT [WORKERS]` builds the app with the service's own factory, adds
`POST /bench/bare-form` and `GET /bench/bare-get` (here only, never in the product) as hot routes,
so they pass the same edge (access log, metrics, request id) and dispatch as the token endpoint and
the protected API, and serves it on 127.0.0.1 the way `server.run.serve` does: same server options
and worker count.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from turris_api.server.hot import HotRoute

BARE_FORM = "/bench/bare-form"
BARE_GET = "/bench/bare-get"
CONFIG_ENV = "BENCH_SERVE_CONFIG"  # how several uvicorn workers learn the database and port


async def bare_form(request: Request, service) -> Response:
    form = dict(parse_qsl((await request.body()).decode("ascii")))
    return Response(b'{"grant_type": "%s"}' % form.get("grant_type", "").encode(), media_type="application/json")


async def bare_get(request: Request, service) -> Response:
    return Response(b'{"ok": true}', media_type="application/json")


BASELINES = [HotRoute(BARE_FORM, ["POST"], bare_form, documented=False),
             HotRoute(BARE_GET, ["GET"], bare_get, documented=False)]


def build_app(db_url: str, port: int) -> FastAPI:
    from turris_api.server import logs
    from turris_api.server.config import ServeConfig
    from turris_api.server.run import build_app as build_service

    # Trusting loopback's X-Forwarded-For, as docs/gateway/nginx.conf tells `serve` to for its nginx.
    config = ServeConfig.load({"db_url": db_url, "host": "127.0.0.1", "port": port,
                               "trusted_proxies": ["127.0.0.1/32"]})
    logs.configure(config.log_format, config.log_level)  # the access log costs what it costs in serve
    return build_service(config, extra_routes=BASELINES)


def app_from_environment() -> FastAPI:
    """The factory each worker process calls, as server.run.app_from_environment does for the product."""
    config = json.loads(os.environ[CONFIG_ENV])
    return build_app(config["db_url"], config["port"])


def main(db_url: str, port: int, workers: int) -> None:
    import uvicorn

    from turris_api.server.run import uvicorn_options

    options = uvicorn_options("127.0.0.1", port)  # exactly as `turris-api serve` runs it
    if workers == 1:
        uvicorn.run(build_app(db_url, port), **options)
        return
    os.environ[CONFIG_ENV] = json.dumps({"db_url": db_url, "port": port})
    uvicorn.run("bench.serve:app_from_environment", factory=True, workers=workers, **options)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
