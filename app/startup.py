"""The terminal app's start-up: the cyclic garbage collector waits until the first screen is painted.

Start-up builds objects that all live as long as the app (modules, classes, the first listing);
the collector's runs in between only walk them: a quarter of the time to paint 10,000 API Clients
(bench/, issue 6). Once painted, they are frozen out of later collections and collecting resumes.
"""

from __future__ import annotations

import gc

_paused = False


def pause_gc() -> None:
    """From process start (before the heavy imports) until `resume_gc`."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """Freeze what start-up built and collect again; does nothing unless `pause_gc` paused it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
