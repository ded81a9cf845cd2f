"""The CLI as a script would use it: JSON output and stable exit codes, one line on stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest


def test_client_lifecycle_with_json(cli):
    code, out, _ = cli("client", "create", "--name", "Loader", "--description", "nightly", "--origins",
                       "https://A.example, https://a.example:443", "--json")
    assert code == 0
    created = json.loads(out)
    assert set(created) >= {"id", "name", "description", "client_id", "client_secret", "secret_last4",
                            "allowed_origins", "status"}
    assert created["allowed_origins"] == ["https://a.example"] and created["status"] == "active"
    assert created["client_secret"].endswith(created["secret_last4"])

    code, out, _ = cli("client", "list", "--json")
    [listed] = json.loads(out)
    assert "client_secret" not in listed and created["client_secret"] not in out
    assert listed["secret_last4"] == created["secret_last4"]

    code, out, _ = cli("client", "update", created["client_id"], "--origins", "", "--json")
    assert code == 0 and json.loads(out)["allowed_origins"] == [] and json.loads(out)["description"] == "nightly"

    code, out, _ = cli("client", "show", str(created["id"]), "--json")
    assert json.loads(out)["version"] == 2

    code, out, _ = cli("client", "set-status", created["client_id"], "disabled", "--json")
    assert code == 0 and json.loads(out)["status"] == "disabled"

    assert cli("client", "delete", created["client_id"])[0] == 2  # --yes is required
    assert cli("client", "delete", created["client_id"], "--yes")[0] == 0
    code, _, err = cli("client", "show", created["client_id"])
    assert code == 4 and "No API Client" in err


def test_token_lifecycle_with_json(cli):
    code, out, _ = cli("token", "create", "--name", "Portal", "--ips", "10.0.0.1, ::ffff:10.0.0.1, 10.1.0.0/16",
                       "--json")
    created = json.loads(out)
    assert code == 0 and set(created) >= {"id", "name", "token", "token_last4", "allowed_ips"}
    assert created["allowed_ips"] == ["10.0.0.1", "10.1.0.0/16"]
    code, out, _ = cli("token", "update", str(created["id"]), "--name", "Portal v2", "--json")
    assert json.loads(out)["name"] == "Portal v2" and json.loads(out)["allowed_ips"] == ["10.0.0.1", "10.1.0.0/16"]
    code, out, _ = cli("token", "list", "--json")
    assert created["token"] not in out and json.loads(out)[0]["token_last4"] == created["token_last4"]
    assert cli("token", "delete", str(created["id"]), "--yes")[0] == 0
    assert json.loads(cli("token", "list", "--json")[1]) == []


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["client", "create", "--name", "X", "--origins", "ftp://x"], 2, '"ftp://x" is not an http(s) origin'),
        (["token", "create", "--name", "X", "--ips", "10.0.0.1/24"], 2, "did you mean 10.0.0.0/24"),
        (["client", "create"], 2, "--name"),
        (["client", "frobnicate"], 2, "invalid choice"),
        (["client", "show", "424242"], 4, "No API Client"),
        (["token", "delete", "99", "--yes"], 4, "No Restricted Access Token"),
        (["audit", "--limit", "0"], 2, "Limit 0"),
        (["audit", "--before", "0"], 2, "Before (an event id) 0"),
        (["audit", "--before", "last"], 2, "invalid int value: 'last'"),
        (["audit", "--token", "Kiosk"], 2, '--token "Kiosk" is not an internal id'),
        (["audit", "--client", "trs_ci_nope"], 4, "No API Client"),
        (["audit", "--client", "1", "--token", "1"], 2, "not allowed with argument"),
        (["--as", "nobody@example.com", "client", "list"], 4, "No member"),
        (["--db", "warehouse.db", "client", "list"], 2, "The store URL is not a database URL"),
        (["--db", "postgresql+psycopg://loader:hunter2@db:notaport/turris", "client", "list"], 2,
         "The store URL is not a database URL"),
        (["--db", "mysql+nosuchdriver://db/turris", "client", "list"], 2, "a database driver that is not installed"),
        (["--db", "sqlite:////proc/no-such-dir/store.db", "client", "list"], 1,
         "Cannot create the store's folder /proc/no-such-dir"),
    ],
)
def test_exit_codes_and_one_clear_line(cli, argv, code, says):
    got, out, err = cli(*argv)
    assert got == code
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert "hunter2" not in err  # a URL's password never reaches the terminal


def test_roles_from_the_shell(cli):
    assert cli("member", "add", "pat@example.com", "--role", "member", "--can-manage-credentials")[0] == 0
    assert cli("member", "add", "vic@example.com", "--role", "member")[0] == 0
    code, _, err = cli("--as", "pat@example.com", "client", "create", "--name", "X")
    assert code == 3 and "Admin or Developer" in err
    assert cli("--as", "pat@example.com", "token", "create", "--name", "T", "--ips", "10.0.0.1")[0] == 0
    assert cli("--as", "vic@example.com", "token", "create", "--name", "T", "--ips", "10.0.0.1")[0] == 3
    assert cli("--as", "vic@example.com", "token", "list")[0] == 0
    assert cli("--as", "pat@example.com", "member", "add", "x@example.com", "--role", "admin")[0] == 3
    assert cli("member", "add", "pat@example.com", "--role", "admin")[0] == 5  # exists: conflict
    assert cli("org", "plan", "--api-access", "off")[0] == 0
    code, _, err = cli("client", "list")
    assert code == 3 and "does not include API access" in err


def test_a_stale_update_exits_with_conflict_and_changes_nothing(cli):
    created = json.loads(cli("client", "create", "--name", "Loader", "--json")[1])
    assert cli("client", "update", str(created["id"]), "--description", "first", "--if-version", "1")[0] == 0
    code, _, err = cli("client", "update", str(created["id"]), "--description", "second", "--if-version", "1")
    assert code == 5 and "changed by someone else" in err
    assert json.loads(cli("client", "show", str(created["id"]), "--json")[1])["description"] == "first"
    token = json.loads(cli("token", "create", "--name", "T", "--ips", "10.0.0.1", "--json")[1])
    assert cli("token", "update", str(token["id"]), "--ips", "10.0.0.2", "--if-version", "1")[0] == 0
    assert cli("token", "update", str(token["id"]), "--ips", "10.0.0.3", "--if-version", "1")[0] == 5


def test_the_console_script_never_shows_a_traceback(tmp_path):
    env = {**os.environ, "TURRIS_DB_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    exe = os.path.join(os.path.dirname(sys.executable), "turris-api")
    done = subprocess.run([exe, "client", "create", "--name", "bad\x1b[2J"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "\x1b" not in done.stderr and "\\x1b" in done.stderr
    bad_db = {**os.environ, "TURRIS_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    done = subprocess.run([exe, "client", "list"], capture_output=True, text=True, env=bad_db, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "cannot be reached" in done.stderr


def test_member_tokens_are_issued_with_a_lifetime_listed_without_values_and_revoked(cli):
    code, out, _ = cli("member", "list", "--json")
    admin = json.loads(out)[0]["email"]
    code, out, _ = cli("member", "token", admin, "--expires-in", "30d", "--json")
    assert code == 0
    issued = json.loads(out)
    assert issued["token"].startswith("trs_mat_") and issued["member_email"] == admin
    code, out, _ = cli("member", "token", "list", "--format", "tsv")
    assert code == 0 and issued["token"] not in out
    header, row = out.splitlines()
    assert header.split("\t") == ["ID", "MEMBER", "TOKEN", "CREATED (UTC)", "EXPIRES (UTC)", "LAST USED (UTC)"]
    assert row.split("\t")[1] == admin and row.split("\t")[4] == issued["expires_at"][:16].replace("T", " ")

    code, _, err = cli("member", "token", admin, "--expires-in", "400d")
    assert code == 2 and '"400d"' in err and "365d" in err
    assert cli("member", "token", "revoke", str(issued["id"]))[0] == 0
    assert cli("member", "token", "revoke", str(issued["id"]))[0] == 4
    assert json.loads(cli("member", "token", "list", "--json")[1]) == []
    code, out, _ = cli("audit", "--format", "tsv")
    assert "revoke\tmember_token" in out and "issue\tmember_token" in out and issued["token"] not in out


def test_audit_pages_back_and_shows_one_credentials_history(cli):
    billing = json.loads(cli("client", "create", "--name", "Billing sync", "--json")[1])
    cli("token", "create", "--name", "Kiosk", "--ips", "10.0.0.1")  # the same internal id as Billing sync
    cli("client", "update", str(billing["id"]), "--name", "Billing sync 2")
    code, out, _ = cli("audit", "--client", billing["client_id"], "--format", "tsv")
    header, *rows = out.splitlines()
    assert code == 0 and header.split("\t")[:5] == ["EVENT", "AT (UTC)", "ACTOR", "ACTION", "TYPE"]
    assert [(r.split("\t")[3], r.split("\t")[6]) for r in rows] == [("update", "Billing sync 2"),
                                                                    ("create", "Billing sync")]
    newest = int(rows[0].split("\t")[0])
    older = json.loads(cli("audit", "--before", str(newest), "--limit", "1", "--json")[1])
    assert [(e["action"], e["credential_name"]) for e in older] == [("create", "Kiosk")]
    tokens = json.loads(cli("audit", "--token", str(billing["id"]), "--json")[1])
    assert [e["credential_name"] for e in tokens] == ["Kiosk"]
    cli("client", "delete", str(billing["id"]), "--yes")
    code, out, _ = cli("audit", "--client", str(billing["id"]), "--format", "tsv")  # deleted: still by its id
    assert [r.split("\t")[3] for r in out.splitlines()[1:]] == ["delete", "update", "create"]


def test_member_set_role_and_remove(cli):
    assert cli("member", "add", "pat@example.com", "--role", "developer")[0] == 0
    code, out, _ = cli("member", "set-role", "pat@example.com", "admin", "--can-manage-credentials", "--json")
    assert code == 0 and (json.loads(out)["role"], json.loads(out)["can_manage_credentials"]) == ("admin", True)
    code, out, _ = cli("member", "set-role", "pat@example.com", "admin", "--no-can-manage-credentials", "--json")
    assert json.loads(out)["can_manage_credentials"] is False
    assert cli("member", "remove", "pat@example.com")[0] == 2  # needs --yes
    assert cli("member", "remove", "pat@example.com", "--yes")[0] == 0
    assert cli("member", "remove", "pat@example.com", "--yes")[0] == 4
    me = json.loads(cli("member", "list", "--json")[1])[0]["email"]
    code, _, err = cli("member", "remove", me, "--yes")
    assert code == 5 and "without an admin who can manage members" in err


def test_as_an_address_in_two_organizations_asks_for_the_member_id(cli, tmp_path):
    from turris_api.store.database import Database
    from turris_api.store.operator import create_organization

    assert cli("member", "add", "boss@rival.example", "--role", "member")[0] == 0
    db = Database(os.environ["TURRIS_DB_URL"])
    create_organization(db, "Rival Inc", "boss@rival.example")
    db.dispose()
    code, _, err = cli("--as", "boss@rival.example", "client", "list")
    assert code == 2 and "name the member by its id" in err
    rival_id = re.search(r'(\d+) in "Rival Inc"', err).group(1)
    assert cli("--as", rival_id, "client", "list")[0] == 0
    code, _, err = cli("member", "token", "boss@rival.example")
    assert code == 2 and "organizations" in err
    assert cli("member", "token", rival_id)[0] == 0
