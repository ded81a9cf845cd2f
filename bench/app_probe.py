"""Child process for the app benchmark: start an app headless, say "ready" once it is painted, exit.

`python -m bench.app_probe empty` is the baseline: an empty Textual app.
`python -m bench.app_probe api DB_URL EXPECTED_ROWS` runs the real app deep-linked to the API page
and is ready at the first frame of that page with every credential in its tables.
The parent times from spawning this process to reading the line on READY_FD.
"""

from __future__ import annotations

import os
import sys

READY_FD_ENV = "BENCH_READY_FD"
SIZE = (120, 40)
DEEP_LINK = "?settings-modal=open&path=api"


def peak_rss_kib() -> int:
    """This process's peak resident set so far (VmHWM; wait4's ru_maxrss would include the parent's at fork)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def signal_ready() -> None:
    os.write(int(os.environ[READY_FD_ENV]), f"ready {peak_rss_kib()}\n".encode())


def run_empty() -> None:
    from textual.app import App

    class EmptyApp(App):
        _bench_done = False

        def _display(self, screen, renderable) -> None:
            # Its first frame, caught where the API page's is (run_api).
            super()._display(screen, renderable)
            if renderable is not None and not self._bench_done:
                self._bench_done = True
                signal_ready()
                self.exit()

    EmptyApp().run(headless=True, size=SIZE)


def run_api(url: str, expected_rows: int) -> None:
    """What `turris-api --db URL --open LINK` does (cli.run), with a probe on the app."""
    from turris_api.app import cli

    args = cli.build_parser().parse_args(["--db", url, "--open", DEEP_LINK])
    store = cli.opening_store(args)
    from turris_api.app.app import TurrisApp

    class ProbedApp(TurrisApp):
        _bench_done = False

        def _display(self, screen, renderable) -> None:
            # Every frame the app produces passes here (headless, it is built but not written):
            # ready at the first frame of the API page holding every credential. No polling timer,
            # so the probe costs the app nothing while it starts.
            super()._display(screen, renderable)
            if renderable is not None and not self._bench_done and page_complete(screen, expected_rows):
                self._bench_done = True
                signal_ready()
                self.exit()

    ProbedApp(store, open_link=args.open).run(headless=True, size=SIZE)


def page_complete(screen, expected_rows: int) -> bool:
    """Whether `screen` shows the API page with its credentials loaded and every one in a table."""
    from textual.widgets import DataTable

    from turris_api.screens.api_page import ApiPage

    pages = screen.query(ApiPage)
    if not pages or not pages.first().loaded:
        return False
    return sum(table.row_count for table in screen.query(DataTable)) == expected_rows


def main(argv: list[str]) -> None:
    if argv[:1] == ["empty"]:
        run_empty()
    elif argv[:1] == ["api"] and len(argv) == 3:
        run_api(argv[1], int(argv[2]))
    else:
        sys.exit("usage: python -m bench.app_probe empty | api DB_URL EXPECTED_ROWS")


if __name__ == "__main__":
    main(sys.argv[1:])
