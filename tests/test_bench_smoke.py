"""`make bench-smoke`: every benchmark runs at toy sizes and reports in the agreed shape.

Only the shape is checked, never a speed: speed targets live in the benchmark's own table.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench import gateway

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
    "store_list_sqlite": ("value", "<=", 100),
    "app_paint_1k": ("ratio", "<=", 2.5),
    "app_paint_10k": ("ratio", "<=", 4),
}
POSTGRES = {"store_create_postgresql", "store_list_postgresql"}
NGINX = {"service_gateway_jwt", "service_gateway_jwt_p99"}


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
    for key, unit in MEASUREMENTS.items():
        row = rows[key]
        assert row["unit"] == unit, key
        if key in POSTGRES and no_postgres and row["status"] == "skipped":
            assert row["note"] == "skipped: no PostgreSQL"
            continue
        if key in NGINX and no_nginx:
            assert row["status"] == "skipped" and row["note"] == "skipped: nginx is not installed", key
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
