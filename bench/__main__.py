"""`python -m bench [--smoke]`: every measurement beside its baseline, in one run, as a table, JSON and a chart.

Full mode is what `make bench` runs (a few minutes); smoke mode (`make bench-smoke`, a few
seconds) runs every measurement at toy sizes so the harness cannot rot. Smoke numbers mean nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import app_bench, report, service_bench, store_bench

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    creates: int  # API Clients created one by one (store)
    listed: int  # API Clients listed (store)
    service_clients: int  # distinct clients hitting the token endpoint
    bearer_credentials: int  # distinct JWTs / restricted tokens rotated in the protected-call runs
    load_seconds: float  # per load run (each endpoint and its baseline)
    connections: int
    app_counts: tuple[int, int, int]  # API Clients for the app's "0", "1k" and "10k" rows
    repeats: int
    warm_up: bool  # a discarded first round (app) and a short load before the first measured one (service)


FULL = Plan(
    creates=1_000,
    listed=10_000,
    service_clients=1_000,
    bearer_credentials=100,
    load_seconds=10.0,
    connections=32,
    app_counts=(0, 1_000, 10_000),
    repeats=5,
    warm_up=True,
)
SMOKE = Plan(
    creates=20,
    listed=200,
    service_clients=20,
    bearer_credentials=5,
    load_seconds=0.5,
    connections=4,
    app_counts=(0, 20, 200),
    repeats=1,
    warm_up=False,
)
SECTIONS = ("store", "service", "app")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds; numbers mean nothing")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--out", type=Path, help="directory for results.json and ratios.png "
                        "(default: bench/, or a temporary directory for --smoke, leaving the last full run alone)")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    out = args.out or (Path(tempfile.gettempdir()) / "turris-bench-smoke" if args.smoke else HERE)
    out.mkdir(parents=True, exist_ok=True)
    sections = args.only or list(SECTIONS)

    started = time.perf_counter()
    rows: list[report.Row] = []
    tools: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="turris-bench-"))
    try:
        if "service" in sections:
            _say("service: token endpoint, protected calls (load on 127.0.0.1)")
            service_rows, tools = service_bench.run(
                workdir,
                clients=plan.service_clients,
                bearers=plan.bearer_credentials,
                seconds=plan.load_seconds,
                connections=plan.connections,
                warm_up=plan.warm_up,
                rounds=plan.repeats,
            )
            rows += service_rows
        if "store" in sections:
            _say("store: create and list, SQLite and PostgreSQL")
            rows += store_bench.run(workdir, creates=plan.creates, listed=plan.listed, repeats=plan.repeats)
        if "app" in sections:
            _say("app: process start to API page painted, against an empty Textual app")
            rows += app_bench.run(workdir, counts=plan.app_counts, repeats=plan.repeats, warm_up=plan.warm_up)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started

    rows = [row.settle() for row in rows]
    info = report.machine()
    print()
    print(report.format_table(rows))
    print()
    print(f"{'smoke run (numbers mean nothing)' if args.smoke else 'full run'} in {seconds:.0f} s on "
          f"{report.describe_machine(info)}; load generator: {tools.get('load_generator', '-')}")
    json_path = out / "results.json"
    report.write_json(json_path, rows, smoke=args.smoke, seconds=seconds, tools=tools)
    chart_path = out / "ratios.png"
    title = f"Turris API Settings, `make {'bench-smoke' if args.smoke else 'bench'}`\n{report.describe_machine(info)}"
    report.draw_chart(chart_path, rows, title=title)
    print(f"wrote {_shown(json_path)} and {_shown(chart_path)}")
    return 0  # a missed target is a FAIL row in the table and the JSON, not a broken run


def _say(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
