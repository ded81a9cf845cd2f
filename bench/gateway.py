"""nginx for the forward-auth rows: docs/gateway/nginx.conf as documented, plus a straight route beside it.

One nginx process serves three ports on 127.0.0.1: the documented gateway (`auth_request` to the
service, then the upstream), a straight proxy to the same upstream without `auth_request`, and the
upstream itself, a `return 200`, so the pair differs only by the forward-auth round trip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import free_port, listening, serving

DOCS_CONFIG = Path(__file__).resolve().parent.parent / "docs" / "gateway" / "nginx.conf"
START_TIMEOUT_S = 10.0

# Proxied as the documented `location /` proxies, minus auth_request and what it sets.
STRAIGHT_AND_UPSTREAM = """
server {{
    listen 127.0.0.1:{straight};
    location / {{
        proxy_pass http://api_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header Authorization "";
    }}
}}

server {{
    listen 127.0.0.1:{upstream};
    location / {{
        default_type application/json;
        return 200 '{{"ok": true}}';
    }}
}}
"""


@dataclass(frozen=True)
class Gateway:
    guarded: str  # base URL: auth_request, then the upstream
    straight: str  # base URL: the upstream, nothing asked
    version: str


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def documented_site(auth_port: int, upstream: int, listen: int) -> str:
    """docs/gateway/nginx.conf with its documented ports replaced: what the tests and the benchmark run."""
    site = DOCS_CONFIG.read_text()
    for documented, actual in (("127.0.0.1:8000", auth_port), ("127.0.0.1:9000", upstream),
                               ("127.0.0.1:8080", listen)):
        if documented not in site:  # the docs changed shape: run nothing rather than something else
            raise RuntimeError(f"{DOCS_CONFIG} no longer has {documented}")
        site = site.replace(documented, f"127.0.0.1:{actual}")
    return site


def site_config(auth_port: int, guarded: int, straight: int, upstream: int) -> str:
    return documented_site(auth_port, upstream, guarded) + STRAIGHT_AND_UPSTREAM.format(straight=straight, upstream=upstream)


def version(binary: str) -> str:
    completed = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (completed.stderr or completed.stdout).strip().removeprefix("nginx version: ")


@contextmanager
def nginx_process(binary: str, prefix: Path, site: str, ports: tuple[int, ...]) -> Iterator[None]:
    """nginx in the foreground as the current user, one worker, serving `site`, everything it writes
    under `prefix`; ready once each of `ports` accepts a connection, stopped on exit."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "gateway.conf").write_text(site)
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {prefix}/gateway.conf;
}}
"""
    )
    argv = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    started = False
    try:
        with serving(argv, prefix / "stdout.log", lambda: all(listening(port) for port in ports)):
            started = True
            yield
    except RuntimeError as err:
        if started:
            raise
        error_log = prefix / "error.log"  # nginx says why it did not start in its own log
        raise RuntimeError(f"{err} {error_log.read_text() if error_log.exists() else ''}") from None


@contextmanager
def running(binary: str, prefix: Path, auth_port: int) -> Iterator[Gateway]:
    """The documented gateway, a straight route beside it and the upstream both share."""
    guarded, straight, upstream = free_port(), free_port(), free_port()
    site = site_config(auth_port, guarded, straight, upstream)
    with nginx_process(binary, prefix, site, (guarded, straight, upstream)):
        yield Gateway(f"http://127.0.0.1:{guarded}", f"http://127.0.0.1:{straight}", version(binary))
