"""The systemd unit in deploy/: it verifies, and it keeps the hardening a reviewer expects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.service import TURRIS_API

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "turris-api.service"
HARDENING = {
    "DynamicUser": "yes", "StateDirectory": "turris-api", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
    "ProtectSystem": "strict", "ProtectHome": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "", "UMask": "0077",
}


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_keeps_its_hardening():
    found = directives()
    for key, value in HARDENING.items():
        assert value in found.get(key, []), f"{key}={value} is missing from {UNIT.name}"
    assert "@system-service" in found["SystemCallFilter"]
    assert "--host 127.0.0.1" in found["ExecStart"][0]  # TLS and the public address belong to the proxy


def test_systemd_analyze_verifies_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd)")
    # verify checks that ExecStart's program exists: point it at this environment's turris-api.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/turris-api/bin/turris-api", TURRIS_API))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
