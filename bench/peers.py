"""The service's peers in `make bench`: node-oidc-provider, the argon2id floor and a raw ASGI handler.

bench/service_bench.py measures each right beside the row of ours it is compared with, with the
same load (wrk settings, distinct clients rotated, client_secret_basic):

- node-oidc-provider (npm `oidc-provider`, pinned in bench/peers/node-oidc/package-lock.json),
  installed with `npm ci` into a cache folder keyed by the lock file, run by
  bench/peers/node-oidc/server.mjs with the same number of clients and workers as ours, once with
  its own plaintext secret comparison and once checking argon2id hashes with our parameters;
- the argon2id floor: verifications per second on every core, with our parameters, nothing else;
- a raw ASGI handler under uvicorn: fixed JSON, no framework (`python -m bench.peers raw PORT WORKERS`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import seed
from bench.procs import answers, free_port, serving
from turris_api.store import crypto

NODE_DIR = Path(__file__).resolve().parent / "peers" / "node-oidc"
NODE_FILES = ("package.json", "package-lock.json")
NODE_SERVER = "server.mjs"
NODE_MAJOR = 20
CACHE_ENV = "TURRIS_BENCH_CACHE"  # where the npm install is kept; default ~/.cache/turris-bench
INSTALLED_MARK = ".installed"
NODE_TOKEN_PATH = "/token"  # node-oidc-provider's default route
NODE_WHOAMI_PATH = "/v1/whoami"  # bench/peers/node-oidc/server.mjs
RAW_BODY = b'{"ok": true}'


class Unavailable(Exception):
    """A peer that cannot run on this machine; its rows say why."""


# --- node-oidc-provider ------------------------------------------------------------


def node_oidc_version() -> str:
    """The pinned version, read from the committed lock file (so a skipped row still names it)."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return lock["packages"]["node_modules/oidc-provider"]["version"]


def cache_root() -> Path:
    if path := os.environ.get(CACHE_ENV):
        return Path(path)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "turris-bench"


def node_version() -> str:
    """`node --version`, or Unavailable with the reason the rows show."""
    if not (shutil.which("node") and shutil.which("npm")):
        raise Unavailable("no Node.js")
    found = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    major = re.match(r"v(\d+)\.", found)
    if major is None or int(major.group(1)) < NODE_MAJOR:
        raise Unavailable(f"Node.js {found or '?'} is older than {NODE_MAJOR}")
    return found


def install_node_oidc(timeout: float) -> Path:
    """The folder holding node_modules for the committed lock file, made by `npm ci` if not there yet.

    Install scripts are not run: argon2's native module ships prebuilt inside its npm package, and
    nothing else may fetch a toolchain. The folder is complete or absent (built aside, then renamed).
    """
    node_version()
    digest = hashlib.sha256(b"".join((NODE_DIR / name).read_bytes() for name in NODE_FILES)).hexdigest()[:16]
    target = cache_root() / "node-oidc" / digest
    if not (target / INSTALLED_MARK).exists():
        building = target.with_name(f"{digest}.{os.getpid()}.partial")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        for name in NODE_FILES:
            shutil.copy2(NODE_DIR / name, building / name)
        try:
            done = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=building, capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(building, ignore_errors=True)
            raise Unavailable(f"npm ci took more than {timeout:.0f} s") from None
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
            raise Unavailable(f"npm ci failed ({last[0][:120]})")
        (building / INSTALLED_MARK).write_text(digest + "\n")
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
    # The script is copied at every start (an edit needs no reinstall): ESM resolves packages from its own folder.
    shutil.copy2(NODE_DIR / NODE_SERVER, target / NODE_SERVER)
    check = subprocess.run(
        ["node", "--input-type=module", "-e", "await import('argon2'); await import('jose'); await import('oidc-provider')"],
        cwd=target, capture_output=True, text=True, timeout=60, check=False,
    )
    if check.returncode != 0:
        last = check.stderr.strip().splitlines()[-1:] or [f"exit code {check.returncode}"]
        raise Unavailable(f"node-oidc-provider does not load ({last[0][:120]})")
    return target


@dataclass(frozen=True)
class NodeClients:
    """Credentials for the peer, of the same shapes and count as ours, with their Basic headers and the
    argon2id hashes our own hasher makes of them (so the peer checks hashes with exactly our parameters)."""

    ids: list[str]
    secrets: list[str]
    hashes: list[str]
    basics: list[str]

    @classmethod
    def make(cls, count: int) -> NodeClients:
        ids = [crypto.new_client_id() for _ in range(count)]
        secrets = [crypto.new_client_secret() for _ in range(count)]
        basics = [seed.basic_credentials(i, s) for i, s in zip(ids, secrets, strict=True)]
        return cls(ids, secrets, [crypto.hash_secret(s) for s in secrets], basics)

    def stored(self, secrets: str) -> list[dict]:
        """What the peer keeps: the secrets themselves ("plain") or their hashes ("argon2id")."""
        kept = self.hashes if secrets == "argon2id" else self.secrets
        return [{"client_id": i, "client_secret": k} for i, k in zip(self.ids, kept, strict=True)]


def argon2_parameters() -> dict:
    """Ours, as the hasher in store/crypto.py holds them (recorded beside the floor)."""
    hasher = crypto.HASHER
    return {"time_cost": hasher.time_cost, "memory_cost": hasher.memory_cost, "parallelism": hasher.parallelism,
            "hash_len": hasher.hash_len, "salt_len": hasher.salt_len}


@contextmanager
def node_oidc(installed: Path, workdir: Path, *, secrets: str, clients: NodeClients, workers: int) -> Iterator[str]:
    """node-oidc-provider serving on 127.0.0.1 with `workers` cluster workers; yields its base URL.

    `secrets` is "plain" (its own comparison of stored secrets) or "argon2id" (hashes, our parameters).
    """
    port = free_port()
    config = workdir / f"node-oidc-{secrets}.json"
    config.write_text(json.dumps({"port": port, "workers": workers, "secrets": secrets,
                                  "clients": clients.stored(secrets)}))
    log_path = workdir / f"node-oidc-{secrets}.log"
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:  # every worker listening, not only the first (the cluster shares one port)
        return "ready" in log_path.read_text().split() and answers(base + "/.well-known/openid-configuration")

    # Started as deployed: NODE_ENV=production (Koa and the provider leave out development extras).
    env = {**os.environ, "NODE_ENV": "production"}
    with serving(["node", str(installed / NODE_SERVER), str(config)], log_path, ready, env=env, timeout=120):
        yield base


# --- the argon2id floor ------------------------------------------------------------


def _verify_for(stored: str, secret: str, seconds: float, start: threading.Barrier | None) -> tuple[int, float]:
    verify = crypto.HASHER.verify
    verify(stored, secret)  # warm: the first call loads what it needs
    if start is not None:
        start.wait()
    count, began = 0, time.perf_counter()
    deadline = began + seconds
    while time.perf_counter() < deadline:
        verify(stored, secret)
        count += 1
    return count, time.perf_counter() - began


def _verify_in_process(stored: str, secret: str, seconds: float, start, results) -> None:
    results.put(_verify_for(stored, secret, seconds, start))


def argon2_floor(seconds: float, workers: int) -> dict:
    """Verifications per second of one of our hashes on `workers` threads, then as many processes.

    argon2-cffi releases the interpreter lock while it hashes, so threads may do as well as
    processes; both are measured and the faster one is the floor.
    """
    secret = crypto.new_client_secret()
    stored = crypto.hash_secret(secret)

    barrier = threading.Barrier(workers)
    counted: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda: counted.append(_verify_for(stored, secret, seconds, barrier)))
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_threads = sum(n / elapsed for n, elapsed in counted)

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_verify_in_process, args=(stored, secret, seconds, barrier, results))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    counted = []
    deadline = time.monotonic() + seconds + 60
    while len(counted) < workers:
        try:
            counted.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"argon2id floor: verifying processes failed (exit codes {dead})") from None
    for process in processes:
        process.join(timeout=10)
    by_processes = sum(n / elapsed for n, elapsed in counted)

    best = "threads" if by_threads >= by_processes else "processes"
    return {"rate": max(by_threads, by_processes), "by": best, "threads": by_threads, "processes": by_processes,
            "workers": workers, "seconds": seconds, "parameters": argon2_parameters()}


def merged_floor(floors: list[dict]) -> dict:
    """Rounds of the floor as one: each way's mean rate over rounds of equal length; the faster way."""
    threads = statistics.fmean(f["threads"] for f in floors)
    processes = statistics.fmean(f["processes"] for f in floors)
    return {**floors[0], "rate": max(threads, processes), "by": "threads" if threads >= processes else "processes",
            "threads": threads, "processes": processes, "seconds": sum(f["seconds"] for f in floors),
            "rounds": len(floors)}


# --- a raw ASGI handler ------------------------------------------------------------


async def raw_app(scope, receive, send) -> None:
    """Fixed JSON for any request: what uvicorn itself costs, with no framework."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(RAW_BODY)).encode())]})
    await send({"type": "http.response.body", "body": RAW_BODY})


@contextmanager
def raw_asgi(workdir: Path, workers: int, probe_path: str = "/") -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bench.peers", "raw", str(port), str(workers)]
    with serving(argv, workdir / "raw-asgi.log", lambda: answers(base + probe_path)):
        yield base


def serve_raw(port: int, workers: int) -> None:
    import uvicorn

    # Stock uvicorn on httptools and uvloop, as the service runs, without the service's own protocol guard.
    uvicorn.run("bench.peers:raw_app", host="127.0.0.1", port=port, workers=workers, http="httptools", loop="uvloop",
                lifespan="off", access_log=False, server_header=False, log_level="warning")


if __name__ == "__main__":
    if sys.argv[1:2] != ["raw"] or len(sys.argv) != 4:
        sys.exit("usage: python -m bench.peers raw PORT WORKERS")
    serve_raw(int(sys.argv[2]), int(sys.argv[3]))
