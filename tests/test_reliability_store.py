"""Two instances on one database (two Database objects, as two service processes have), 50
concurrent creates, updates and deletes: nothing lost, nothing silently overwritten, one audit
record per applied change. Runs on one SQLite file and on one PostgreSQL database."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from turris_api.store.database import Database
from turris_api.store.errors import Conflict, NotFound
from turris_api.store.local import API_CLIENT, RESTRICTED_TOKEN, LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap
from turris_api.store.schema import api_clients, audit_events

SEED_CLIENTS = 6
SEED_TOKENS = 4
WORKERS = 10


@pytest.fixture
def instances(database_url):
    """Two independent engines on one database, each with its own store for the same admin."""
    first = Database(database_url)
    bootstrap(first)
    second = Database(database_url)
    yield LocalStore(first), LocalStore(second)
    first.dispose()
    second.dispose()


@dataclass
class Op:
    kind: str  # create | update | delete
    credential: str  # api_client | restricted_token
    target: int | None = None  # id for update/delete
    based_on: int | None = None  # version the editor saw; None: read it just before saving
    mark: str = ""
    outcome: str = ""  # applied | conflict | not_found
    result: object = field(default=None, repr=False)


def _plan(clients, tokens) -> list[Op]:
    ops: list[Op] = []
    for i in range(16):
        ops.append(Op("create", API_CLIENT, mark=f"created-{i}"))
    for i in range(4):
        ops.append(Op("create", RESTRICTED_TOKEN, mark=f"token-created-{i}"))
    # Five clients take four edits each: two from the form opened before anything ran (stale soon),
    # two that reload first. Client 4 is also deleted while it is being edited.
    for i in range(20):
        seed = clients[i % 5]
        stale = i % 4 < 2
        ops.append(Op("update", API_CLIENT, seed.id, seed.version if stale else None, mark=f"edit-{i}"))
    for i in range(4):
        seed = tokens[i % 2]
        ops.append(Op("update", RESTRICTED_TOKEN, seed.id, seed.version if i < 2 else None, mark=f"tok-edit-{i}"))
    ops.append(Op("delete", API_CLIENT, clients[4].id))
    ops.append(Op("delete", API_CLIENT, clients[5].id))
    ops += [Op("delete", RESTRICTED_TOKEN, t.id) for t in tokens[1:]]
    ops.append(Op("delete", API_CLIENT, clients[5].id))  # a second delete of the same client
    assert len(ops) == 50
    random.Random(5).shuffle(ops)
    return ops


def _run(store: LocalStore, op: Op) -> Op:
    try:
        if op.kind == "create" and op.credential == API_CLIENT:
            op.result = store.create_client(ClientDraft(name=op.mark, description=op.mark))
        elif op.kind == "create":
            op.result = store.create_token(TokenDraft(name=op.mark, allowed_ips="127.0.0.1"))
        elif op.kind == "update" and op.credential == API_CLIENT:
            if op.based_on is None:
                op.based_on = store.get_client(op.target).version
            draft = ClientDraft(name=f"seed-{op.target}", description=op.mark, allowed_origins=f"https://{op.mark}.example")
            op.result = store.update_client(op.target, draft, op.based_on)
        elif op.kind == "update":
            if op.based_on is None:
                op.based_on = store.get_token(op.target).version
            op.result = store.update_token(op.target, TokenDraft(name=op.mark, allowed_ips="10.0.0.1"), op.based_on)
        elif op.credential == API_CLIENT:
            store.delete_client(op.target)
        else:
            store.delete_token(op.target)
        op.outcome = "applied"
    except Conflict:
        op.outcome = "conflict"
    except NotFound:
        op.outcome = "not_found"
    return op


def test_fifty_concurrent_operations_on_two_instances_lose_nothing(instances):
    first, second = instances
    clients = [first.create_client(ClientDraft(name=f"seed-{i}")).client for i in range(SEED_CLIENTS)]
    tokens = [first.create_token(TokenDraft(name=f"seed-token-{i}", allowed_ips="127.0.0.1")).token for i in range(SEED_TOKENS)]
    seed_content = {(API_CLIENT, c.id): c.description for c in clients} | {(RESTRICTED_TOKEN, t.id): t.name for t in tokens}
    ops = _plan(clients, tokens)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = list(pool.map(lambda pair: _run(instances[pair[0] % 2], pair[1]), enumerate(ops), timeout=120))

    outcomes = Counter((op.kind, op.outcome) for op in done)
    assert outcomes[("create", "applied")] == 20, outcomes  # a create never conflicts
    # Stale forms on contested rows must have been refused somewhere: the race was real.
    assert outcomes[("update", "conflict")] >= 1, outcomes
    assert outcomes[("update", "applied")] >= 5, outcomes

    # No duplicate Client IDs, and every created client is there exactly once.
    listed = second.list_clients()
    ids = [c.client_id for c in listed]
    assert len(ids) == len(set(ids))
    created_ids = {op.result.client.client_id for op in done if op.kind == "create" and op.credential == API_CLIENT}
    assert created_ids <= set(ids)
    with first.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_clients)).scalar() == len(listed)
    assert len(listed) == SEED_CLIENTS + 16 - 2

    # Updates: every applied one was based on a distinct version and moved it by exactly one;
    # the row holds the last applied writer's content; no refused writer's content survived.
    current = {c.id: c for c in listed} | {t.id + 10_000: t for t in second.list_tokens()}
    for kind, offset in ((API_CLIENT, 0), (RESTRICTED_TOKEN, 10_000)):
        for target in {op.target for op in done if op.kind == "update" and op.credential == kind}:
            edits = [op for op in done if op.kind == "update" and op.credential == kind and op.target == target]
            applied = [op for op in edits if op.outcome == "applied"]
            bases = [op.based_on for op in applied]
            assert len(bases) == len(set(bases)), f"two edits of {kind} {target} applied on the same version"
            assert all(op.result.version == op.based_on + 1 for op in applied)
            row = current.get(target + offset)
            if row is None:  # deleted meanwhile
                continue
            assert row.version == 1 + len(applied)
            last = max(applied, key=lambda op: op.result.version) if applied else None
            shown = row.description if kind == API_CLIENT else row.name
            assert shown == (last.mark if last else seed_content[(kind, target)])
            for refused in (op for op in edits if op.outcome != "applied"):
                assert shown != refused.mark

    # The audit log: exactly one record per applied change, nothing for a refused one.
    with first.db.read() as conn:
        rows = conn.execute(sa.select(audit_events.c.action, audit_events.c.credential_type, audit_events.c.credential_id)).all()
    expected = Counter(("create", API_CLIENT, c.id) for c in clients) + Counter(
        ("create", RESTRICTED_TOKEN, t.id) for t in tokens
    )
    for op in done:
        if op.outcome != "applied":
            continue
        if op.kind == "create":
            made = op.result.client if op.credential == API_CLIENT else op.result.token
            expected[("create", op.credential, made.id)] += 1
        else:
            expected[(op.kind, op.credential, op.target)] += 1
    assert Counter(tuple(r) for r in rows) == expected
    # The duplicated delete of client 5 applied exactly once.
    assert sum(1 for op in done if op.kind == "delete" and op.target == clients[5].id and op.outcome == "applied") == 1


def test_concurrent_creates_with_one_name_get_distinct_client_ids(instances):
    """Forty creates of the same name at once, over both instances: forty distinct Client IDs."""
    first, second = instances
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        made = list(
            pool.map(lambda i: instances[i % 2].create_client(ClientDraft(name="same name")), range(40), timeout=120)
        )
    assert len({m.client.client_id for m in made}) == 40
    assert len({m.client.id for m in made}) == 40
    listed = [c for c in second.list_clients() if c.name == "same name"]
    assert sorted(c.client_id for c in listed) == sorted(m.client.client_id for m in made)
    creates = [e for e in first.audit_events(limit=1000) if e.action == "create"]
    assert sorted(e.credential_id for e in creates) == sorted(m.client.id for m in made)


def test_a_stale_reference_never_reaches_a_newer_credential(instances):
    """Someone deletes the newest client; a colleague's screen still shows it. The id must not be
    handed to the next client, or the colleague's delete (or edit at version 1) would hit it."""
    first, second = instances
    for i in range(3):
        first.create_client(ClientDraft(name=f"keep-{i}"))
    newest = first.create_client(ClientDraft(name="to retire")).client
    token = first.create_token(TokenDraft(name="to retire", allowed_ips="127.0.0.1")).token
    first.delete_client(newest.id)
    first.delete_token(token.id)

    replacement = first.create_client(ClientDraft(name="replacement")).client
    new_token = first.create_token(TokenDraft(name="replacement", allowed_ips="127.0.0.1")).token
    assert replacement.id != newest.id and new_token.id != token.id

    with pytest.raises(NotFound):
        second.update_client(newest.id, ClientDraft(name="stale edit"), newest.version)
    with pytest.raises(NotFound):
        second.delete_client(newest.id)
    with pytest.raises(NotFound):
        second.delete_token(token.id)
    assert second.get_client(replacement.id).name == "replacement"
    assert second.get_token(new_token.id).name == "replacement"


@pytest.mark.slow
def test_concurrent_cli_updates_from_one_version_apply_once_and_the_rest_exit_5(instances, database_url):
    """Six admins script the same edit at once from the version they read: one applies, five are
    told it changed elsewhere (exit 5, one line, no traceback), and nothing is silently lost."""
    first, _ = instances
    seed = first.create_client(ClientDraft(name="Scripted", description="original")).client
    command = [str(Path(sys.executable).with_name("turris-api")), "--db", database_url, "client", "update"]
    procs = [
        subprocess.Popen(
            [*command, str(seed.id), "--description", f"writer-{i}", "--if-version", str(seed.version)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(6)
    ]
    results = [(i, proc.wait(timeout=120), proc.stderr.read()) for i, proc in enumerate(procs)]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()
    winners = [i for i, code, _ in results if code == 0]
    assert len(winners) == 1, results
    for i, code, err in results:
        if i in winners:
            continue
        assert code == 5, (i, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert "changed by someone else" in err
    assert first.get_client(seed.id).description == f"writer-{winners[0]}"
    assert [e.action for e in first.audit_events()].count("update") == 1
