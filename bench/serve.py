"""Child process for the service benchmark: the real service plus two bare baseline routes.

`python -m bench.serve DB_URL PORT` builds the app with the service's own factory, adds
`POST /bench/bare-form` and `GET /bench/bare-get` (here only, never in the product), and serves
it on 127.0.0.1 the way `turris-api serve` does: same framework, server and worker count.
"""

from __future__ import annotations

import sys
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response

BARE_FORM = "/bench/bare-form"
BARE_GET = "/bench/bare-get"


def add_baselines(app: FastAPI) -> None:
    @app.post(BARE_FORM, include_in_schema=False)
    async def bare_form(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("ascii")))
        return Response(b'{"grant_type": "%s"}' % form.get("grant_type", "").encode(), media_type="application/json")

    @app.get(BARE_GET, include_in_schema=False)
    async def bare_get() -> Response:
        return Response(b'{"ok": true}', media_type="application/json")


def main(db_url: str, port: int) -> None:
    import uvicorn

    from server.api import create_app
    from server.run import uvicorn_options
    from server.settings import ServiceSettings
    from store.database import Database

    settings = ServiceSettings.from_env("127.0.0.1", port)
    app = create_app(Database(db_url), settings)
    add_baselines(app)
    uvicorn.run(app, **uvicorn_options("127.0.0.1", port))  # exactly as `turris-api serve` runs it


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
