"""Load generation on loopback: wrk when installed, else a bounded async httpx loop in a subprocess.

Both rotate through a list of prepared requests (so each request can carry a different
credential), run for a fixed time with a fixed number of keep-alive connections, stop on their
own, and report requests per second, p50 and p99 latency, and how many answers were not 2xx.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HTTPX_MAX_REQUESTS = 200_000  # hard bound for the fallback loop, whatever the duration


@dataclass
class Spec:
    url: str  # e.g. http://127.0.0.1:8123/oauth/token (loopback only)
    method: str
    requests: list[dict]  # each {"headers": {...}, "body": str | None}, used round-robin
    connections: int
    seconds: float


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int  # answers that were not 2xx, plus socket errors and timeouts
    generator: str
    detail: dict = field(default_factory=dict)


def merged(results: list[Result]) -> Result:
    """Several runs of one shape as one: their requests over their time; p50 and p99 the runs' medians."""
    if len(results) == 1:
        return results[0]
    requests, seconds = sum(r.requests for r in results), sum(r.seconds for r in results)
    return Result(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        failed=sum(r.failed for r in results),
        generator=results[0].generator,
        detail={"runs_rps": [round(r.rps, 1) for r in results]},
    )


def generator_name() -> str:
    return "wrk" if shutil.which("wrk") else "httpx (async, subprocess)"


def run(spec: Spec) -> Result:
    host = urlsplit(spec.url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(f"load only goes to loopback, not {host!r}")
    return _run_wrk(spec) if shutil.which("wrk") else _run_httpx(spec)


# --- wrk -------------------------------------------------------------------


def _lua_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _wrk_script(spec: Spec) -> str:
    """Requests are formatted in init(): only then has wrk set the Host header they need."""
    path = urlsplit(spec.url).path or "/"
    entries = []
    for req in spec.requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.get("headers", {}).items())
        body = _lua_string(req["body"]) if req.get("body") is not None else "nil"
        entries.append(f"  {{{{{headers}}}, {body}}},")
    return "\n".join(
        [
            "local shapes = {",
            *entries,
            "}",
            "local prepared = {}",
            "local n = 0",
            "init = function(args)",
            "  for i, shape in ipairs(shapes) do",
            f"    prepared[i] = wrk.format({_lua_string(spec.method)}, {_lua_string(path)}, shape[1], shape[2])",
            "  end",
            "end",
            "request = function()",
            "  n = n % #prepared + 1",
            "  return prepared[n]",
            "end",
            "done = function(summary, latency, requests)",
            "  local e = summary.errors",
            '  io.write(string.format("WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, '
            '\\"p99_us\\": %d, \\"status\\": %d, \\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, '
            '\\"timeout\\": %d}\\n", summary.requests, summary.duration, latency:percentile(50), '
            "latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))",
            "end",
            "",
        ]
    )


def _run_wrk(spec: Spec) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(spec))
    try:
        seconds = max(1, round(spec.seconds))
        completed = subprocess.run(
            ["wrk", "-t1", f"-c{spec.connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script.name, spec.url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip() or completed.stdout.strip()}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    failed = data["status"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return Result(
        requests=data["requests"],
        seconds=duration,
        rps=data["requests"] / duration if duration else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        failed=failed,
        generator="wrk",
        detail=data,
    )


# --- httpx fallback ----------------------------------------------------------


def _run_httpx(spec: Spec) -> Result:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.load"],
        input=json.dumps(asdict(spec)),
        capture_output=True,
        text=True,
        timeout=spec.seconds + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"httpx load failed: {completed.stderr.strip()[-2000:]}")
    return Result(**json.loads(completed.stdout))


async def _httpx_loop(spec: Spec) -> Result:
    import httpx

    latencies: list[float] = []
    failed = 0
    counter = 0
    limits = httpx.Limits(max_connections=spec.connections, max_keepalive_connections=spec.connections)
    async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:
        started = time.perf_counter()
        deadline = started + spec.seconds

        async def worker() -> None:
            nonlocal counter, failed
            while time.perf_counter() < deadline and counter < HTTPX_MAX_REQUESTS:
                req = spec.requests[counter % len(spec.requests)]
                counter += 1
                sent = time.perf_counter()
                try:
                    response = await client.request(
                        spec.method, spec.url, headers=req.get("headers"), content=req.get("body")
                    )
                    ok = response.is_success
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - sent)
                failed += not ok

        await asyncio.gather(*(worker() for _ in range(spec.connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return Result(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        failed=failed,
        generator="httpx",
    )


if __name__ == "__main__":
    result = asyncio.run(_httpx_loop(Spec(**json.load(sys.stdin))))
    json.dump(asdict(result), sys.stdout)
