"""`turris-api serve`: the credential service under uvicorn."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from turris_api.server import logs
from turris_api.server.api import create_app
from turris_api.server.config import ServeConfig, decode_secret_key
from turris_api.server.connection import GuardedHttpToolsProtocol
from turris_api.server.hot import HotRoute
from turris_api.server.keys import KEY_FILE_NAME
from turris_api.store import signing_keys
from turris_api.store.database import Database, sqlite_file
from turris_api.store.errors import Invalid

log = logging.getLogger("server")
WORKER_CONFIG_ENV = "TURRIS_SERVE_CONFIG"  # how `workers > 1` hands the flags to each process (no secrets)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to multiprocess mode


def uvicorn_options(host: str, port: int, keep_alive: float = 5.0) -> dict:
    """Safe defaults: uvicorn must not rewrite the peer from X-Forwarded-For (we decide whom to trust),
    uvicorn's access log is off (ours leaves out query strings, which can carry tokens), and the
    protocol is the one that limits request heads and slow requests."""
    return {
        "host": host,
        "port": port,
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": keep_alive,
        "log_level": "info",
        "log_config": None,  # logging is ours (server/logs.py)
        "http": GuardedHttpToolsProtocol,
    }


def uvicorn_config(app, config: ServeConfig, **extra) -> uvicorn.Config:
    options = uvicorn_options(config.host, config.port, config.keep_alive_timeout)
    options["log_level"] = config.log_level
    uv = uvicorn.Config(app, **options, **extra)
    # Read by GuardedHttpToolsProtocol; instance attributes travel to worker processes with the Config.
    uv.head_limit = config.head_limit
    uv.read_timeout = config.read_timeout
    return uv


def at_rest_key(config: ServeConfig, db_url: str) -> bytes:
    """The key that encrypts signing keys in the store: TURRIS_SECRET_KEY, else the key file (by
    default signing.key beside an SQLite store). A store with no folder of its own (PostgreSQL)
    needs one of them set: refused rather than keys in plaintext."""
    if config.secret_key is not None:
        return decode_secret_key(config.secret_key.get_secret_value())
    path = config.secret_key_file
    if path is None:
        store_file = sqlite_file(db_url)
        if store_file is None:
            if db_url.startswith("sqlite"):  # an in-memory store: its keys die with the process
                return os.urandom(32)
            raise Invalid("secret_key", "This store is not an SQLite file, so there is no folder to keep the key "
                          "that encrypts the signing keys in: set TURRIS_SECRET_KEY (the same on every instance; "
                          "make one with: openssl rand -base64 32) or secret_key_file.")
        path = store_file.with_name(KEY_FILE_NAME)
    return signing_keys.at_rest_key_file(path.expanduser())


def startup_warnings(config: ServeConfig) -> list[str]:
    warnings = []
    if not config.is_loopback() and not config.issuer:
        warnings.append(f"Listening on {config.host} without TURRIS_ISSUER: tokens name {config.effective_issuer} "
                        "as their issuer; set the address clients really use.")
    if config.signing_key_passphrase is not None:
        warnings.append("TURRIS_SIGNING_KEY_PASSPHRASE is only needed to open older keys; they are re-encrypted "
                        "under the at-rest key at start.")
    return warnings


def build_app(config: ServeConfig, *, multiprocess: bool = False, extra_routes: Sequence[HotRoute] = ()) -> FastAPI:
    db = Database(config.db_url)
    return create_app(db, config.service_settings(at_rest_key(config, db.url), multiprocess=multiprocess),
                      extra_routes)


def serve(config: ServeConfig, flags: dict | None = None) -> None:
    """Run the service until interrupted, as `config` says."""
    logs.configure(config.log_format, config.log_level)
    for warning in startup_warnings(config):
        log.warning(warning)
    if config.workers == 1:
        server = uvicorn.Server(uvicorn_config(build_app(config), config))
        server.run()
        return
    at_rest_key(config, config.db_url)  # create the key file once, before the workers race for it
    Database(config.db_url).dispose()  # migrate once, before the workers start
    metrics_dir = tempfile.mkdtemp(prefix="turris-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[WORKER_CONFIG_ENV] = json.dumps({**(flags or {}), "db_url": config.db_url})
    try:
        uv = uvicorn_config("turris_api.server.run:app_from_environment", config, factory=True,
                            workers=config.workers)
        sock = uv.bind_socket()
        Multiprocess(uv, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def app_from_environment() -> FastAPI:
    """The app factory each uvicorn worker process calls when serving with several workers: the same
    flags, environment and file give the same configuration."""
    flags = json.loads(os.environ[WORKER_CONFIG_ENV])
    config_file = flags.pop("config_file", None)
    config = ServeConfig.load(flags, config_file)
    logs.configure(config.log_format, config.log_level)
    return build_app(config, multiprocess=True)

