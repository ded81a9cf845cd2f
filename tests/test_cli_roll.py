"""Rolling, ending the old value, expiry and the lifetime policy from the command line."""

from __future__ import annotations

import json

import pytest


def test_client_roll_prints_the_new_secret_once_and_the_old_ones_end(cli):
    created = json.loads(cli("client", "create", "--name", "Loader", "--json")[1])
    code, out, _ = cli("client", "roll", created["client_id"], "--keep-old-for", "7d")
    assert code == 0 and "Client Secret Rolled: Loader" in out and created["client_id"] in out
    assert f"old secret ••••{created['secret_last4']} works until" in out
    assert f"turris-api client end-old {created['id']}" in out

    code, out, _ = cli("client", "show", created["client_id"], "--json")
    shown = json.loads(out)
    assert shown["old_secret_last4"] == created["secret_last4"] and shown["old_secret_expires_at"]
    assert "client_secret" not in shown and shown["last_used_at"] is None
    code, out, _ = cli("client", "show", created["client_id"])
    assert "(old ••••" in out and "last used:       never" in out

    assert cli("client", "end-old", created["client_id"])[0] == 0
    code, _, err = cli("client", "end-old", created["client_id"])
    assert code == 5 and "no old secret" in err


def test_roll_json_carries_the_secret_and_a_zero_overlap(cli):
    created = json.loads(cli("token", "create", "--name", "Portal", "--ips", "10.0.0.1", "--json")[1])
    code, out, _ = cli("token", "roll", str(created["id"]), "--keep-old-for", "0", "--json")
    rolled = json.loads(out)
    assert code == 0 and rolled["token"] != created["token"] and rolled["old_token_last4"] is None


@pytest.mark.parametrize("bad", ["31d", "tomorrow", "12"])
def test_a_bad_keep_old_for_names_itself_and_exits_2(cli, bad):
    created = json.loads(cli("client", "create", "--name", "Loader", "--json")[1])
    code, _, err = cli("client", "roll", created["client_id"], "--keep-old-for", bad)
    assert code == 2 and bad in err and "Keep old for" in err


def test_expiry_on_create_and_update_and_the_policy_cap(cli):
    code, out, _ = cli("client", "create", "--name", "Loader", "--expires-in", "90d", "--json")
    assert code == 0 and json.loads(out)["expires_at"]
    client_id = json.loads(out)["client_id"]
    code, out, _ = cli("client", "update", client_id, "--expires-at", "2030-01-31", "--json")
    assert json.loads(out)["expires_at"].startswith("2030-01-31T23:59:59")
    code, out, _ = cli("client", "update", client_id, "--name", "Renamed", "--json")
    assert json.loads(out)["expires_at"].startswith("2030-01-31")  # kept unless asked
    code, out, _ = cli("client", "update", client_id, "--no-expiry", "--json")
    assert json.loads(out)["expires_at"] is None

    assert cli("org", "policy", "--max-lifetime", "365d")[0] == 0
    code, _, err = cli("token", "create", "--name", "Portal", "--ips", "10.0.0.1", "--expires-in", "400d")
    assert code == 2 and "365 days" in err
    code, out, _ = cli("token", "create", "--name", "Portal", "--ips", "10.0.0.1")
    assert code == 0 and "It expires" in out
    code, _, err = cli("org", "policy", "--max-lifetime", "forever")
    assert code == 2 and "forever" in err
