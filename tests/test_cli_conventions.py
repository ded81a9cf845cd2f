"""The CLI conventions a script or a shell user expects (compare gh and stripe): --version, errors as
JSON under --json, one JSON shape per credential, TSV when piped, names shown as the app shows them,
completion, and no hang when there is no terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TURRIS_API = str(Path(sys.executable).with_name("turris-api"))
SNEAKY = "Prod\u200bLoader"  # a zero-width space: must not pass for "ProdLoader"


def script(tmp_path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real console script with stdin and stdout not a terminal, as a script or a pipe runs it."""
    return subprocess.run(
        [TURRIS_API, *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TURRIS_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}", **(env or {})},
    )


def test_version(tmp_path):
    done = script(tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("turris-api ") and done.stdout.split()[1][0].isdigit()


def test_no_subcommand_without_a_terminal_exits_2_naming_the_subcommands(tmp_path):
    done = script(tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "needs a terminal" in line and "client, token" in line and "serve" in line
    assert done.stdout == ""


def test_errors_are_json_under_json_with_the_same_exit_codes(cli):
    code, out, err = cli("client", "show", "trs_ci_nope", "--json")
    assert code == 4 and out == ""
    assert json.loads(err) == {"error": {"code": "not_found", "message": json.loads(err)["error"]["message"], "field": None}}
    assert "trs_ci_nope" in json.loads(err)["error"]["message"]

    code, _, err = cli("client", "create", "--name", "", "--json")
    assert code == 2
    assert json.loads(err)["error"]["code"] == "invalid" and json.loads(err)["error"]["field"] == "name"

    code, _, err = cli("client", "set-status", "1", "disabld", "--json")
    assert code == 2 and json.loads(err)["error"]["code"] == "invalid"

    code, _, err = cli("client", "show", "trs_ci_nope")  # without --json: one plain line
    assert code == 4 and err.startswith("turris-api: No API Client") and len(err.splitlines()) == 1


def test_one_json_shape_for_a_credential_with_the_secret_only_in_the_create_answer(cli):
    created = json.loads(cli("client", "create", "--name", "Loader", "--origins", "https://a.example", "--json")[1])
    secret = created.pop("client_secret")
    shown = json.loads(cli("client", "show", created["client_id"], "--json")[1])
    [listed] = json.loads(cli("client", "list", "--json")[1])
    assert created == shown == listed
    assert secret.endswith(created["secret_last4"]) and secret not in json.dumps(listed)

    made = json.loads(cli("token", "create", "--name", "Portal", "--ips", "10.0.0.1", "--json")[1])
    value = made.pop("token")
    assert made == json.loads(cli("token", "show", str(made["id"]), "--json")[1])
    assert value.endswith(made["token_last4"])


def test_list_prints_tab_separated_values_with_a_header_when_piped(tmp_path):
    assert script(tmp_path, "client", "create", "--name", SNEAKY, "--origins", "https://a.example").returncode == 0
    done = script(tmp_path, "client", "list")
    header, row = done.stdout.splitlines()
    assert header.split("\t") == ["ID", "NAME", "CLIENT ID", "SECRET", "ALLOWED ORIGINS", "STATUS", "OLD SECRET",
                                  "EXPIRES (UTC)"]
    cells = row.split("\t")
    assert cells[1] == "Prod\\u200bLoader"  # made visible, exactly as the app shows it
    assert cells[3].startswith("••••") and cells[5] == "active"

    table = script(tmp_path, "client", "list", "--format", "table")
    assert "\t" not in table.stdout and "Prod\\u200bLoader" in table.stdout
    assert "Prod\\u200bLoader" in script(tmp_path, "client", "show", "1").stdout


def test_a_stdout_that_cannot_encode_the_mask_gets_ascii(tmp_path):
    assert script(tmp_path, "client", "create", "--name", "Café loader").returncode == 0
    done = subprocess.run([TURRIS_API, "client", "list", "--format", "table"], capture_output=True, timeout=60,
                          env={**os.environ, "TURRIS_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                               "PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("ascii")  # nothing but ASCII reached the pipe
    assert "****" in out and "Caf\\xe9 loader" in out


def test_set_status_accepts_only_the_known_statuses(cli):
    created = json.loads(cli("client", "create", "--name", "Loader", "--json")[1])
    code, _, err = cli("client", "set-status", created["client_id"], "disabld")
    assert code == 2 and "'active', 'disabled'" in err
    assert json.loads(cli("client", "show", created["client_id"], "--json")[1])["status"] == "active"
    assert cli("client", "set-status", created["client_id"], "disabled")[0] == 0
    assert cli("client", "set-status", created["client_id"], "active")[0] == 0


def test_an_id_too_large_for_the_column_is_not_found(db, cli, monkeypatch):
    monkeypatch.setenv("TURRIS_DB_URL", db.url)  # SQLite and PostgreSQL (set up by the fixture), whose ids are 32-bit
    for ref in ("2147483648", "99999999999999999999"):
        for command in (("client", "show", ref), ("token", "show", ref), ("client", "delete", ref, "--yes")):
            code, _, err = cli(*command)
            assert code == 4, (command, err)
            assert "No " in err


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_code_for_each_shell(tmp_path, shell):
    done = script(tmp_path, "completion", shell)
    assert done.returncode == 0 and "turris-api" in done.stdout and "_ARGCOMPLETE" in done.stdout


@pytest.mark.skipif(not Path("/bin/bash").exists(), reason="needs bash")
def test_bash_completes_subcommands_and_options(tmp_path):
    def complete(line: str) -> list[str]:
        words = line.split(" ")
        program = (
            f'eval "$({TURRIS_API} completion bash)"; '
            f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT={len(line)}; "
            f"_python_argcomplete {TURRIS_API}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        done = subprocess.run(["/bin/bash", "-c", program], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PATH": f"{Path(TURRIS_API).parent}:{os.environ['PATH']}"})
        return [w.strip() for w in done.stdout.splitlines() if w.strip()]

    assert complete("turris-api cl") == ["client"]
    assert set(complete("turris-api client ")) >= {"create", "list", "show", "update", "delete", "set-status"}
    assert "--if-version" in complete("turris-api client update 1 --if")
