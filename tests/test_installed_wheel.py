"""The product as a user installs it: the wheel built from this checkout, in a fresh virtual
environment outside it, run from another folder: the CLI, the app in a real terminal, the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.service import free_port
from tests.support.terminal import NO_TMUX, TMUX, Terminal

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "turris_api"
DIST_INFO_SUFFIX = ".dist-info"

pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel, the wheel built from the sdist (python -m build), so the sdist must be complete."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict:
    """The wheel in a new venv in a temporary folder; HOME and the data folder point there too."""
    home = tmp_path_factory.mktemp("user")
    env_dir = home / "venv"
    venv.create(env_dir, with_pip=True)
    (wheel,) = dist.glob("*.whl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURRIS_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), PATH=f"{env_dir / 'bin'}:{env['PATH']}")
    done = run(env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "-c", ROOT / "constraints.txt", wheel, cwd=home, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"home": home, "bin": env_dir / "bin", "env": env, "venv": env_dir}


def test_the_wheel_holds_one_package_and_nothing_generic(dist):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {name.split("/", 1)[0] for name in names}
        dist_info = next(name for name in top if name.endswith(DIST_INFO_SUFFIX))
        assert top == {PACKAGE, dist_info}, top
        for shipped in ("turris_api/styles.tcss", "turris_api/store/migrations/script.py.mako",
                        "turris_api/store/migrations/env.py", "turris_api/store/migrations/versions/0001_initial.py",
                        "turris_api/__main__.py", "turris_api/app/cli.py"):
            assert shipped in names, shipped
        assert not any(name.startswith(("turris_api/tests/", "turris_api/bench/")) for name in names)
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        assert "turris-api = turris_api.app.cli:main" in entry_points


def test_the_sdist_has_everything_needed_to_build(dist):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "constraints.txt", "styles.tcss", "__init__.py", "__main__.py",
                   "store/migrations/script.py.mako", "store/migrations/versions/0003_no_id_reuse.py", "app/cli.py"):
        assert needed in names, needed


def test_only_the_one_package_is_installed_at_top_level(installed):
    """What pip recorded for the install: nothing but turris_api/, its dist-info and the console script."""
    site = next((installed["venv"] / "lib").glob("python3*/site-packages"))
    record = next(site.glob("turris_api_settings-*.dist-info")) / "RECORD"
    tops = {line.split(",", 1)[0].split("/", 1)[0] for line in record.read_text().splitlines() if line}
    scripts = {line.split(",", 1)[0] for line in record.read_text().splitlines() if line.startswith("..")}
    assert tops - {".."} == {PACKAGE, record.parent.name}, tops
    assert {Path(s).name for s in scripts} == {"turris-api"}, scripts


def test_version_and_python_dash_m(installed):
    home, bin_dir, env = installed["home"], installed["bin"], installed["env"]
    done = run(bin_dir / "turris-api", "--version", cwd=home, env=env)
    assert done.returncode == 0, done.stderr
    version = done.stdout.strip()
    assert version.startswith("turris-api ") and version.split()[1][0].isdigit(), version
    done = run(bin_dir / "python", "-m", PACKAGE, "--version", cwd=home, env=env)
    assert done.stdout.strip() == version


def test_cli_round_trip_from_another_folder(installed):
    home, bin_dir, env = installed["home"], installed["bin"], installed["env"]
    cli = bin_dir / "turris-api"
    created = run(cli, "client", "create", "--name", "Wheel check", "--origins", "https://app.example.com", "--json",
                  cwd=home, env=env)
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    assert client["client_secret"].startswith("trs_cs_")
    listed = run(cli, "client", "list", "--json", cwd=home, env=env)
    assert [c["client_id"] for c in json.loads(listed.stdout)] == [client["client_id"]]
    assert client["client_secret"] not in listed.stdout
    deleted = run(cli, "client", "delete", client["client_id"], "--yes", cwd=home, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(run(cli, "client", "list", "--json", cwd=home, env=env).stdout) == []
    assert (home / "data" / "turris-api" / "store.db").exists()  # the user's data folder, not the cwd


def test_a_postgresql_url_without_the_extra_names_the_extra(installed):
    home, bin_dir, env = installed["home"], installed["bin"], installed["env"]
    done = run(bin_dir / "turris-api", "--db", "postgresql+psycopg://someone:hunter2@127.0.0.1/x", "client", "list",
               cwd=home, env=env)
    assert done.returncode == 2, done.stderr
    assert "turris-api-settings[postgres]" in done.stderr and "hunter2" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.skipif(TMUX is None, reason=NO_TMUX)
def test_the_app_opens_the_api_page_with_a_credential(installed, tmp_path):
    home, bin_dir, env = installed["home"], installed["bin"], installed["env"]
    url = f"sqlite:///{tmp_path / 'app.db'}"
    created = run(bin_dir / "turris-api", "--db", url, "client", "create", "--name", "Wheelie", "--json",
                  cwd=home, env=env)
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["client_secret"]
    terminal = Terminal(f"turris-wheel-{os.getpid()}", env)
    try:
        terminal.start([str(bin_dir / "turris-api"), "--db", url, "--open", "?settings-modal=open&path=api"],
                       120, 40, cwd=str(home))
        shown = terminal.wait_for("Wheelie")
        assert "API Clients" in shown and f"••••{secret[-4:]}" in shown
        assert secret not in shown
        # As a person does: the modal closes, then Ctrl+Q; should the app outlive it, the screen says why.
        terminal.keys("Escape")
        terminal.wait_for("Open Settings")
        terminal.keys("C-q")
        deadline = time.monotonic() + 10
        while terminal.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert terminal.exit_status() == 0, f"still running 10 s after Ctrl+Q; the screen shows:\n{terminal.screen()}"
    finally:
        terminal.close()


def test_serve_answers_a_token_request(installed, tmp_path):
    home, bin_dir, env = installed["home"], installed["bin"], installed["env"]
    url = f"sqlite:///{tmp_path / 'service.db'}"
    created = run(bin_dir / "turris-api", "--db", url, "client", "create", "--name", "Served", "--json", cwd=home, env=env)
    client = json.loads(created.stdout)
    port = free_port()
    proc = subprocess.Popen([str(bin_dir / "turris-api"), "--db", url, "serve", "--port", str(port)],
                            cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=(client["client_id"], client["client_secret"]), timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, proc.communicate(timeout=5)[0] if proc.poll() is not None else "no answer"
        assert answer.status_code == 200, answer.text
        assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == 3600
    finally:
        proc.terminate()
        proc.wait(timeout=20)
