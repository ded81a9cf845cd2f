"""`turris-api serve`: the credential service under uvicorn."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

from turris_api.server.api import create_app
from turris_api.server.settings import ServiceSettings, parse_networks
from turris_api.store.database import Database

log = logging.getLogger("server")
WORKER_CONFIG_ENV = "TURRIS_SERVE_CONFIG"  # how `workers > 1` hands the configuration to each process


def uvicorn_options(host: str, port: int) -> dict:
    """Safe defaults: uvicorn must not rewrite the peer from X-Forwarded-For (we decide whom to trust),
    and the access log is off because request lines can carry tokens in query strings."""
    return {
        "host": host,
        "port": port,
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "log_level": "info",
    }


def serve(
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    trusted_proxies: Sequence[str] = (),
    *,
    workers: int = 1,
) -> None:
    """Run the service until interrupted. Issuer and audience come from TURRIS_ISSUER / TURRIS_AUDIENCE."""
    parse_networks(trusted_proxies)  # a bad --trusted-proxy fails before anything starts
    settings = ServiceSettings.from_env(host, port, trusted_proxies)
    options = uvicorn_options(host, port)
    if workers > 1:
        os.environ[WORKER_CONFIG_ENV] = json.dumps(
            {"db_url": db_url, "host": host, "port": port, "trusted_proxies": list(trusted_proxies)}
        )
        Database(db_url).dispose()  # migrate once, before the workers start
        uvicorn.run("turris_api.server.run:app_from_environment", factory=True, workers=workers, **options)
        return
    app = create_app(Database(db_url), settings)
    uvicorn.run(app, **options)


def app_from_environment() -> FastAPI:
    """The app factory each uvicorn worker process calls when serving with several workers."""
    config = json.loads(os.environ[WORKER_CONFIG_ENV])
    settings = ServiceSettings.from_env(config["host"], config["port"], config["trusted_proxies"])
    return create_app(Database(config["db_url"]), settings)
