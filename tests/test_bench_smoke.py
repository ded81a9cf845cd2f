"""`make bench-smoke`: every benchmark runs at toy sizes and reports in the agreed shape.

Only the shape is checked, never a speed: speed targets live in the benchmark's own table.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import gateway, peers, seed

ROOT = Path(__file__).resolve().parent.parent

MEASUREMENTS = {
    "service_token": "req/s",
    "service_token_p50": "ms",
    "service_token_p99": "ms",
    "service_token_1_worker": "req/s",
    "service_whoami_jwt": "req/s",
    "service_whoami_jwt_p99": "ms",
    "service_whoami_rat": "req/s",
    "service_whoami_rat_p99": "ms",
    "service_forward_jwt": "req/s",
    "service_forward_jwt_p99": "ms",
    "service_forward_rat": "req/s",
    "service_gateway_jwt": "req/s",
    "service_gateway_jwt_p99": "ms",
    "service_token_tail": "ms",
    "service_peer_argon2_floor": "req/s",
    "service_peer_node_argon2": "req/s",
    "service_peer_node_plain": "req/s",
    "service_peer_node_whoami": "req/s",
    "service_peer_raw_asgi": "req/s",
    "store_create_sqlite": "ms",
    "store_list_sqlite": "ms",
    "store_create_postgresql": "ms",
    "store_list_postgresql": "ms",
    "app_paint_empty": "ms",
    "app_paint_0": "ms",
    "app_paint_1k": "ms",
    "app_paint_10k": "ms",
    "app_rss_0": "MiB",
    "app_rss_1k": "MiB",
    "app_rss_10k": "MiB",
}
TARGETED = {
    "service_token": ("value", ">=", 513),
    "service_whoami_jwt": ("ratio", ">=", 0.6),
    "service_whoami_rat": ("ratio", ">=", 0.6),
    "service_forward_jwt": ("ratio", ">=", 0.6),
    "service_forward_rat": ("ratio", ">=", 0.6),
    "service_token_tail": ("ratio", "<=", 4),
    "service_peer_argon2_floor": ("ratio", ">=", 0.6),
    "service_peer_node_argon2": ("ratio", ">=", 1.5),
    "service_peer_node_whoami": ("ratio", ">=", 1.2),
    "service_peer_raw_asgi": ("ratio", ">=", 0.4),
    "store_list_sqlite": ("value", "<=", 100),
    "app_paint_1k": ("ratio", "<=", 2.5),
    "app_paint_10k": ("ratio", "<=", 4),
}
POSTGRES = {"store_create_postgresql", "store_list_postgresql"}
NGINX = {"service_gateway_jwt", "service_gateway_jwt_p99"}
NODE = {"service_peer_node_argon2", "service_peer_node_plain", "service_peer_node_whoami"}
# With Node.js, the peer's rows are measured unless its install could not be done here (they say why).
NODE_INSTALL_FAILED = ("skipped: npm ci failed (", "skipped: npm ci took more than",
                       "skipped: node-oidc-provider does not load (", "skipped: Node.js v")


def test_smoke_run_reports_every_measurement(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["mode"] == "smoke"
    assert data["machine"]["cores"] >= 1 and data["machine"]["python"]
    rows = {row["key"]: row for row in data["results"]}
    assert set(rows) == set(MEASUREMENTS)

    no_postgres = not os.environ.get("TURRIS_TEST_DATABASE_URL")
    no_nginx = gateway.nginx_binary() is None
    no_node = not (shutil.which("node") and shutil.which("npm"))
    for key, unit in MEASUREMENTS.items():
        row = rows[key]
        assert row["unit"] == unit, key
        if key in POSTGRES and no_postgres and row["status"] == "skipped":
            assert row["note"] == "skipped: no PostgreSQL"
            continue
        if key in NGINX and no_nginx:
            assert row["status"] == "skipped" and row["note"] == "skipped: nginx is not installed", key
            continue
        if key in NODE and no_node:
            assert row["status"] == "skipped" and row["note"] == "skipped: no Node.js", key
            continue
        if key in NODE and row["status"] == "skipped":
            assert row["note"].startswith(NODE_INSTALL_FAILED), (key, row["note"])
            continue
        assert row["status"] in ("pass", "fail", "info"), (key, row["note"])
        assert isinstance(row["value"], float) and math.isfinite(row["value"]) and row["value"] > 0, key
        if key != "app_paint_empty":
            assert row["baseline"] > 0 and row["baseline_name"], key
            assert math.isclose(row["ratio"], row["value"] / row["baseline"]), key
        if key in TARGETED:
            on, op, bound = TARGETED[key]
            assert (row["target"]["on"], row["target"]["op"], row["target"]["bound"]) == (on, op, bound), key
            subject = row["value"] if on == "value" else row["ratio"]
            met = subject >= bound if op == ">=" else subject <= bound
            assert row["status"] == ("pass" if met else "fail"), key
        else:
            assert row["target"] is None and row["status"] == "info", key

    # The peers' own latencies travel with each ratio; the floor is the faster of its two ways.
    for key in (*NODE, "service_peer_raw_asgi"):
        if rows[key]["status"] != "skipped":
            extra = rows[key]["extra"]
            assert 0 < extra["baseline_p50_ms"] <= extra["baseline_p99_ms"], key
            assert f"p99 {extra['baseline_p99_ms']:.1f} ms" in rows[key]["baseline_name"], key
    floor = rows["service_peer_argon2_floor"]
    assert floor["extra"]["threads"] > 0 and floor["extra"]["processes"] > 0
    assert floor["baseline"] == max(floor["extra"]["threads"], floor["extra"]["processes"])
    assert floor["value"] == rows["service_token"]["value"]

    # The printed table: one header, then one line per measurement with its name, value and result.
    lines = completed.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("measurement"))
    for word in ("value", "baseline", "ratio", "target", "result"):
        assert word in lines[header]
    table = lines[header + 2 : header + 2 + len(MEASUREMENTS)]
    for row, line in zip(data["results"], table, strict=True):
        assert line.startswith(row["name"])
        assert line.rstrip().endswith(shown_result(row)), line

    chart = tmp_path / "ratios.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def shown_result(row: dict) -> str:
    if row["status"] == "skipped":
        return row["note"]
    return row["status"].upper() if row["status"] in ("pass", "fail") else row["status"]


def test_httpx_load_fallback_counts_answers_and_refusals(tmp_path):
    """Without wrk the benchmarks load the server with a bounded httpx loop: it must count what came back."""
    from bench import load

    (tmp_path / "index.html").write_text("ok")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        found = load._run_httpx(load.Spec(f"http://127.0.0.1:{port}/index.html", "GET", [{"headers": {}}], 2, 0.3))
        missing = load._run_httpx(load.Spec(f"http://127.0.0.1:{port}/missing", "GET", [{"headers": {}}], 2, 0.3))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert found.requests > 0 and found.failed == 0 and found.rps > 0
    assert 0 < found.p50_ms <= found.p99_ms
    assert missing.requests > 0 and missing.failed == missing.requests


def test_interleaved_runs_merge_into_their_requests_over_their_time():
    """A slow round weighs by the time it took, as one long run would have: not a mean of rates."""
    from bench import load

    fast = load.Result(requests=9_000, seconds=1.0, rps=9_000.0, p50_ms=2.0, p99_ms=5.0, failed=0, generator="wrk")
    slow = load.Result(requests=2_000, seconds=2.0, rps=1_000.0, p50_ms=9.0, p99_ms=30.0, failed=1, generator="wrk")
    steady = load.Result(requests=5_000, seconds=1.0, rps=5_000.0, p50_ms=4.0, p99_ms=8.0, failed=0, generator="wrk")
    merged = load.merged([fast, slow, steady])
    assert (merged.requests, merged.seconds, merged.rps) == (16_000, 4.0, 4_000.0)  # the mean rate is 5,000
    assert (merged.p50_ms, merged.p99_ms, merged.failed) == (4.0, 8.0, 1)
    assert merged.detail["runs_rps"] == [9_000.0, 1_000.0, 5_000.0]


def test_floor_rounds_merge_into_each_ways_mean_and_the_faster_way():
    first = {"rate": 4_000.0, "by": "threads", "threads": 4_000.0, "processes": 3_000.0, "workers": 2, "seconds": 0.6}
    second = {"rate": 5_200.0, "by": "processes", "threads": 3_600.0, "processes": 5_200.0, "workers": 2,
              "seconds": 0.6}
    floor = peers.merged_floor([first, second])
    assert (floor["threads"], floor["processes"], floor["rate"], floor["by"]) == (3_800.0, 4_100.0, 4_100.0,
                                                                                  "processes")
    assert (floor["rounds"], floor["seconds"], floor["workers"]) == (2, 1.2, 2)


def test_gateway_rows_run_the_documented_nginx_config():
    """The forward-auth pair differs only by auth_request: the docs' file as it is, plus a straight route."""
    site = gateway.site_config(auth_port=18000, guarded=18080, straight=18081, upstream=19000)
    documented = gateway.DOCS_CONFIG.read_text()
    for before, after in (("8000", "18000"), ("9000", "19000"), ("8080", "18080")):
        documented = documented.replace(f"127.0.0.1:{before}", f"127.0.0.1:{after}")
    assert site.startswith(documented)
    added = site.removeprefix(documented)
    assert "auth_request" not in added and "proxy_pass http://api_backend;" in added
    assert "listen 127.0.0.1:18081;" in added and "listen 127.0.0.1:19000;" in added


def test_node_oidc_peer_checks_argon2id_hashes_and_issues_eddsa_jwts_its_route_verifies(tmp_path):
    """The argon2id peer must really verify hashes (a plaintext comparison would flatter it), and its
    protected route must really verify the JWT, or the rows compare us with less work than ours."""
    import httpx

    try:
        installed = peers.install_node_oidc(timeout=300)
    except peers.Unavailable as why:
        pytest.skip(f"node-oidc-provider: {why}")
    clients = peers.NodeClients.make(2)
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def token(base: str, client_id: str, secret: str) -> httpx.Response:
        basic = seed.basic_credentials(client_id, secret)
        return httpx.post(base + peers.NODE_TOKEN_PATH, content="grant_type=client_credentials",
                          headers={"Authorization": f"Basic {basic}", **form})

    with peers.node_oidc(installed, tmp_path, secrets="argon2id", clients=clients, workers=1) as base:
        client_id, secret, stored = clients.ids[0], clients.secrets[0], clients.hashes[0]
        assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        issued = token(base, client_id, secret)
        assert issued.status_code == 200, issued.text
        assert token(base, client_id, stored).status_code == 401  # what it keeps is not what it accepts
        assert token(base, client_id, secret[:-1] + "x").status_code == 401
        assert token(base, clients.ids[1], secret).status_code == 401

        jwt = issued.json()["access_token"]
        header = json.loads(base64.urlsafe_b64decode(jwt.split(".")[0] + "=="))
        assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
        whoami = httpx.get(base + peers.NODE_WHOAMI_PATH, headers={"Authorization": f"Bearer {jwt}"})
        assert whoami.status_code == 200 and whoami.json()["client_id"] == client_id
        head, body, signature = jwt.split(".")
        forged = ".".join((head, body, ("A" if signature[0] != "A" else "B") + signature[1:]))
        refused = httpx.get(base + peers.NODE_WHOAMI_PATH, headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401

    with peers.node_oidc(installed, tmp_path, secrets="plain", clients=clients, workers=1) as base:
        assert token(base, clients.ids[1], clients.secrets[1]).status_code == 200
        assert token(base, clients.ids[1], clients.hashes[1]).status_code == 401


def test_node_oidc_peer_without_node_is_skipped_with_its_reason(tmp_path, monkeypatch):
    from bench import peers

    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    monkeypatch.setenv(peers.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(peers.Unavailable, match="^no Node.js$"):
        peers.install_node_oidc(timeout=5)
    assert not (tmp_path / "cache").exists()  # nothing half-installed
