"""The backend never imports the UI: store and server load without Textual, screens or widgets."""

from __future__ import annotations

import subprocess
import sys


def test_store_and_server_never_import_the_ui():
    probe = (
        "UI = ('textual.', 'turris_api.app', 'turris_api.screens', 'turris_api.widgets')\n"
        "import sys, turris_api.server.api, turris_api.server.run, turris_api.server.keys, turris_api.store.remote, "
        "turris_api.store.local, turris_api.store.verify\n"
        "ui = sorted(m for m in sys.modules if m == 'textual' or m.startswith(UI))\n"
        "print(','.join(ui))\n"
    )
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
