"""Child process for the app benchmark: start an app headless, say "ready" once it is painted, exit.

`python -m bench.app_probe empty` is the baseline: an empty Textual app.
`python -m bench.app_probe api DB_URL EXPECTED_ROWS` runs the real app deep-linked to the API page
and is ready once the page's tables hold every credential and the screen has been refreshed.
The parent times from spawning this process to reading the line on READY_FD.
"""

from __future__ import annotations

import os
import sys

READY_FD_ENV = "BENCH_READY_FD"
SIZE = (120, 40)
DEEP_LINK = "?settings-modal=open&path=api"
POLL_S = 0.002


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
        def on_mount(self) -> None:
            self.call_after_refresh(self.done)

        def done(self) -> None:
            signal_ready()
            self.exit()

    EmptyApp().run(headless=True, size=SIZE)


def run_api(url: str, expected_rows: int) -> None:
    """What `turris-api --db URL --open LINK` does, with a probe on the app."""
    from app import cli
    from app.app import TurrisApp

    class ProbedApp(TurrisApp):
        # Textual calls on_mount of every class in the MRO: TurrisApp's own runs too.
        def on_mount(self) -> None:
            self._bench_page = None
            self._bench_timer = self.set_interval(POLL_S, self._check)

        def _check(self) -> None:
            # Cheap while waiting (the probe must not slow down what it measures): find the page once,
            # then read its flag; count rows only once it says it has loaded.
            if self._bench_page is None:
                self._bench_page = api_page(self)
            if self._bench_page is not None and self._bench_page.loaded and rows_shown(self) == expected_rows:
                self._bench_timer.stop()
                self.call_after_refresh(self._done)

        def _done(self) -> None:
            signal_ready()
            self.exit()

    args = cli.build_parser().parse_args(["--db", url, "--open", DEEP_LINK])
    ProbedApp(cli.open_store(args), open_link=args.open).run(headless=True, size=SIZE)


def api_page(app):
    """The API page, once it is on screen."""
    from screens.api_page import ApiPage

    pages = app.screen.query(ApiPage)
    return pages.first() if pages else None


def rows_shown(app) -> int:
    from textual.widgets import DataTable

    return sum(table.row_count for table in app.screen.query(DataTable))


def main(argv: list[str]) -> None:
    if argv[:1] == ["empty"]:
        run_empty()
    elif argv[:1] == ["api"] and len(argv) == 3:
        run_api(argv[1], int(argv[2]))
    else:
        sys.exit("usage: python -m bench.app_probe empty | api DB_URL EXPECTED_ROWS")


if __name__ == "__main__":
    main(sys.argv[1:])
