"""The backend never imports the UI: store and server load without Textual, screens or widgets."""

from __future__ import annotations

import subprocess
import sys


def test_store_and_server_never_import_the_ui():
    probe = (
        "import sys, server.api, server.run, server.keys, store.remote, store.local, store.verify\n"
        "ui = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens', 'widgets', 'app'))\n"
        "print(','.join(ui))\n"
    )
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
