"""App: wall time from process start to the API page painted and interactive, against an empty app."""

from __future__ import annotations

import compileall
import os
import selectors
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import seed
from bench.app_probe import READY_FD_ENV, SIZE
from bench.report import Row, Target, skipped

TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "screens", "widgets", "store", "bench")  # what the probes import from the project
SCALES = ("0", "1k", "10k")  # row keys; smoke mode runs the same rows on smaller stores
TARGETS = {"1k": 2.5, "10k": 4.0}  # one process: the store opens in a thread beside the app


class ProbeFailed(RuntimeError):
    pass


def probe(args: list[str]) -> tuple[float, float]:
    """Spawn `python -m bench.app_probe ARGS`; return (ms to "ready", peak RSS by then in MiB)."""
    read_fd, write_fd = os.pipe()
    env = {**os.environ, READY_FD_ENV: str(write_fd)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.app_probe", *args],
        env=env,
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as ready:
        line = _read_line(ready, proc)
    elapsed_ms = (time.perf_counter() - started) * 1000
    returncode = _reap(proc)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    word, _, peak_kib = line.decode().partition(" ")
    if word != "ready" or returncode != 0:
        raise ProbeFailed(f"app probe {args[0]} exited {returncode} without painting: {stderr.strip()[-2000:]}")
    return elapsed_ms, int(peak_kib) / 1024


def _read_line(ready, proc: subprocess.Popen) -> bytes:
    with selectors.DefaultSelector() as sel:
        sel.register(ready, selectors.EVENT_READ)
        if not sel.select(TIMEOUT_S):
            proc.kill()
            return b""
    return ready.readline()


def _reap(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run(workdir: Path, *, counts: tuple[int, ...], repeats: int, warm_up: bool = True) -> list[Row]:
    """`counts`: how many API Clients for each of SCALES."""
    sizes = dict(zip(SCALES, counts, strict=True))
    names = {k: f"App: API page painted, {n:,} API Clients" for k, n in sizes.items()}
    rss_names = {k: f"App: peak RSS, {n:,} API Clients" for k, n in sizes.items()}
    try:
        import turris_api.app.app  # noqa: F401
    except ImportError as err:
        missing = f"the app is not importable ({err})"
    else:
        missing = ""

    _byte_compile()
    urls = {}
    for k, n in sizes.items() if not missing else ():
        url = seed.sqlite_url(workdir, f"app_{k}")
        db = seed.open_store(url)
        seed.bulk_clients(db, n)
        db.dispose()
        urls[k] = url

    empty_times, empty_rss = [], []
    times: dict[str, list[float]] = {n: [] for n in urls}
    rss: dict[str, list[float]] = {n: [] for n in urls}
    # Interleaved rounds, so drift hits all alike; the first one discarded (cold file cache, .pyc writing).
    first = 0 if warm_up else 1
    for round_ in range(first, 1 + repeats):
        ms, peak = probe(["empty"])
        if round_:
            empty_times.append(ms)
            empty_rss.append(peak)
        for n, url in urls.items():
            ms, peak = probe(["api", url, str(sizes[n])])
            if round_:
                times[n].append(ms)
                rss[n].append(peak)
    empty_ms = statistics.median(empty_times)
    empty_mib = max(empty_rss)
    rows = [
        Row(
            key="app_paint_empty",
            name="App: empty Textual app painted (baseline)",
            unit="ms",
            value=empty_ms,
            note=f"median of {repeats}, from process start",
            extra={"runs_ms": empty_times, "peak_rss_mib": empty_mib},
        )
    ]
    if missing:
        rows += [skipped(f"app_paint_{n}", names[n], "ms", missing, _target(n)) for n in sizes]
        return rows + [skipped(f"app_rss_{n}", rss_names[n], "MiB", missing) for n in sizes]
    for n in sizes:
        rows.append(
            Row(
                key=f"app_paint_{n}",
                name=names[n],
                unit="ms",
                value=statistics.median(times[n]),
                baseline=empty_ms,
                baseline_name="empty Textual app",
                target=_target(n),
                note=f"median of {repeats}, from process start, headless {SIZE[0]}x{SIZE[1]}",
                extra={"runs_ms": times[n]},
            )
        )
    for n in sizes:
        rows.append(
            Row(
                key=f"app_rss_{n}",
                name=rss_names[n],
                unit="MiB",
                value=max(rss[n]),
                baseline=empty_mib,
                baseline_name="empty Textual app",
                extra={"runs_mib": rss[n]},
            )
        )
    return rows


def _byte_compile() -> None:
    """The project's modules as an installed package has them. With PYTHONDONTWRITEBYTECODE set (as on
    these machines) an editable install never caches them, and each probe compiled them again (~0.1 s)."""
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


def _target(n: int) -> Target | None:
    return Target("ratio", "<=", TARGETS[n]) if n in TARGETS else None
