"""Service: the token endpoint and protected calls under load, each beside a bare route in the same process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from bench import gateway, load, peers, seed
from bench.procs import answers, free_port, serving
from bench.report import Row, Target, skipped
from bench.serve import BARE_FORM, BARE_GET
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.schema import api_clients

TOKEN_TARGET_RPS = 513.0  # Ory Hydra's published client-credentials figure on 2 cores
PROTECTED_TARGET_RATIO = 0.6
# Against the peers (issue 16): ours / theirs, in the same run.
FLOOR_TARGET_RATIO = 0.6  # token endpoint / argon2id verifications alone
NODE_TOKEN_TARGET_RATIO = 1.5  # token endpoint / node-oidc-provider with the same argon2id check
NODE_WHOAMI_TARGET_RATIO = 1.2  # whoami with a JWT / node-oidc-provider's jose-verifying route
RAW_TARGET_RATIO = 0.4  # our bare GET / a raw ASGI handler
TOKEN_TAIL_TARGET_RATIO = 4.0  # token p99 / token p50
FLOOR_SECONDS = 3.0  # each of the floor's two ways (threads, processes)
NPM_TIMEOUT_S = 300.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GRANT = "grant_type=client_credentials"

ROWS = {
    "token": "Token endpoint: POST /oauth/token, Basic, {clients:,} clients, {workers} workers (one per core)",
    "token_p50": "Token endpoint, {workers} workers: p50 latency",
    "token_p99": "Token endpoint, {workers} workers: p99 latency",
    "token_1_worker": "Token endpoint, 1 worker",
    "whoami_jwt": "GET /v1/whoami, API Client JWT + allowed Origin",
    "whoami_jwt_p99": "GET /v1/whoami, JWT: p99 latency",
    "whoami_rat": "GET /v1/whoami, Restricted Access Token, allowed IP",
    "whoami_rat_p99": "GET /v1/whoami, restricted token: p99 latency",
    "forward_jwt": "GET /auth/forward (as nginx asks), API Client JWT + allowed Origin",
    "forward_jwt_p99": "GET /auth/forward, JWT: p99 latency",
    "forward_rat": "GET /auth/forward (as nginx asks), Restricted Access Token, allowed IP",
}
PEER_ROWS = {  # key: (name, unit, target); the value is ours, the baseline the peer's
    "token_tail": ("Token endpoint, {workers} workers: p99 over its p50", "ms",
                   Target("ratio", "<=", TOKEN_TAIL_TARGET_RATIO)),
    "peer_argon2_floor": ("Token endpoint vs the argon2id floor (verifications alone, all cores, our parameters)",
                          "req/s", Target("ratio", ">=", FLOOR_TARGET_RATIO)),
    "peer_node_argon2": ("Token endpoint vs node-oidc-provider {version}, same argon2id check, {workers} workers each",
                         "req/s", Target("ratio", ">=", NODE_TOKEN_TARGET_RATIO)),
    "peer_node_plain": ("Token endpoint vs node-oidc-provider {version}, plaintext secrets, {workers} workers each",
                        "req/s", None),
    "peer_node_whoami": ("GET /v1/whoami, JWT + allowed Origin, vs node-oidc-provider's jose-verifying route, "
                         "{workers} workers each", "req/s", Target("ratio", ">=", NODE_WHOAMI_TARGET_RATIO)),
    "peer_raw_asgi": ("Bare GET (our edge and hot-route dispatch) vs a raw ASGI handler under uvicorn, 1 worker each", "req/s",
                      Target("ratio", ">=", RAW_TARGET_RATIO)),
}
NODE_ROWS = ("peer_node_argon2", "peer_node_plain", "peer_node_whoami")
GATEWAY_ROWS = {
    "gateway_jwt": "GET through nginx with forward-auth (JWT + allowed Origin)",
    "gateway_jwt_p99": "GET through nginx with forward-auth: p99 latency",
}
FORWARD = "/auth/forward"
API_PATH = "/v1/orders"  # any path: an API Client's JWT reaches every one
RESTRICTED_PATH = "/v1/whoami"  # in the default restricted subset, so a Restricted Access Token is allowed
# The token endpoint is CPU-bound (argon2, signing): it is deployed, and measured, with one uvicorn
# process per core, its bare baseline with the same count. The protected calls run on one worker, but
# for whoami beside node-oidc-provider's route, where both run one worker per core.
WORKERS = os.cpu_count() or 1
T = TypeVar("T")


def run(
    workdir: Path, *, clients: int, bearers: int, seconds: float, connections: int, warm_up: bool = True,
    rounds: int = 1,
) -> tuple[list[Row], dict]:
    tools = {"load_generator": load.generator_name(), "connections": connections, "seconds_per_run": seconds,
             "rounds": rounds}
    try:
        import turris_api.server.api  # noqa: F401
    except ImportError as err:
        why = f"the service is not importable ({err})"
        return [
            skipped(f"service_{key}", name.format(clients=clients, workers=WORKERS), "ms" if "_p" in key else "req/s", why)
            for key, name in {**ROWS, **GATEWAY_ROWS}.items()
        ] + _peer_rows_skipped(PEER_ROWS, why), tools

    node_dir, node_missing = _install_node_oidc(tools)  # before any load: npm's work must not overlap a run
    url = seed.sqlite_url(workdir, "service")
    basics, jwt_clients, token_values = _seed(url, clients, bearers)
    with _server(url, workdir / "server.log") as base, peers.raw_asgi(workdir, 1, BARE_GET) as raw_base:
        bearer_jwts = [(_fetch_jwt(base, basic), origin) for basic, origin in jwt_clients]
        for value in token_values:  # first verification (argon2) happens here; the runs measure steady state
            _expect_ok(httpx.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {value}"}))
        runner, raw = _Runner(base, connections, seconds), _Runner(raw_base, connections, seconds)
        if warm_up:
            runner.warm_up()
            raw.warm_up()

        token_requests = [{"headers": {"Authorization": f"Basic {b}", **FORM}, "body": GRANT} for b in basics]
        bare_form_1 = runner.measure("POST", BARE_FORM, [{"headers": FORM, "body": GRANT}])
        token_1 = runner.measure("POST", "/oauth/token", token_requests)

        # Interleaved rounds, each shape once a round, so a slow spell of this machine (a shared VM
        # here) lands on a baseline and the calls judged against it alike, not on one of them.
        jwt_requests = [{"headers": {"Authorization": f"Bearer {t}", "Origin": o}} for t, o in bearer_jwts]
        rat_requests = [{"headers": {"Authorization": f"Bearer {v}"}} for v in token_values]
        protected = _merged(_interleaved(rounds, {
            "raw_get": _load(raw, "GET", BARE_GET, [{"headers": {}}], rounds),  # the bare GET's request bytes
            "bare_get": _load(runner, "GET", BARE_GET, [{"headers": {}}], rounds),
            "whoami_jwt": _load(runner, "GET", "/v1/whoami", jwt_requests, rounds),
            "whoami_rat": _load(runner, "GET", "/v1/whoami", rat_requests, rounds),
            "forward_jwt": _load(runner, "GET", FORWARD, [_asked(r, API_PATH) for r in jwt_requests], rounds),
            "forward_rat": _load(runner, "GET", FORWARD, [_asked(r, RESTRICTED_PATH) for r in rat_requests], rounds),
        }))
        raw_get, bare_get = protected["raw_get"], protected["bare_get"]
        whoami_jwt, whoami_rat = protected["whoami_jwt"], protected["whoami_rat"]
        forward_jwt, forward_rat = protected["forward_jwt"], protected["forward_rat"]

        gateway_rows = _gateway(workdir, base, jwt_requests, connections, seconds, warm_up, tools)

    _forget_use(url)  # so the clients' first use in the next run is recorded again, as it was in this one
    node_clients = peers.NodeClients.make(clients)
    with ExitStack() as stack:
        base = stack.enter_context(_server(url, workdir / "server-workers.log", WORKERS))
        node = {}  # every server up before the first run, so none starts while another is measured
        if node_dir is not None:
            for secrets in ("argon2id", "plain"):
                node[secrets] = _Runner(stack.enter_context(peers.node_oidc(
                    node_dir, workdir, secrets=secrets, clients=node_clients, workers=WORKERS)), connections, seconds)
        runner = _Runner(base, connections, seconds)
        node_token_requests = [{"headers": {"Authorization": f"Basic {b}", **FORM}, "body": GRANT}
                               for b in node_clients.basics]
        if warm_up:
            runner.warm_up()  # every worker up and warm
            for peer in node.values():  # and the peer's JIT compiler past its first requests
                peer.warm_up(peers.NODE_TOKEN_PATH, node_token_requests, method="POST")
        bare_form = runner.measure("POST", BARE_FORM, [{"headers": FORM, "body": GRANT}])
        # The token endpoint, its peers and the floor in interleaved rounds too: two runs minutes
        # apart gave the token endpoint 2,499 and 2,876 req/s, with the floor near 4,600 in both.
        shapes = {"token": _load(runner, "POST", "/oauth/token", token_requests, rounds)}
        for secrets, peer in node.items():
            shapes[secrets] = _load(peer, "POST", peers.NODE_TOKEN_PATH, node_token_requests, rounds)
        token_rounds = _interleaved(rounds, {
            **shapes, "floor": lambda: peers.argon2_floor(min(seconds, FLOOR_SECONDS) / rounds, WORKERS)})
        floor = peers.merged_floor(token_rounds.pop("floor"))
        measured = _merged(token_rounds)
        token = measured.pop("token")
        tools["argon2_floor"] = {k: v for k, v in floor.items() if k != "rate"}
        # After the token run, so these clients' first use was recorded in it, as in the run before.
        worker_jwts = [{"headers": {"Authorization": f"Bearer {_fetch_jwt(base, basic)}", "Origin": origin}}
                       for basic, origin in jwt_clients]
        whoami_workers = runner.measure("GET", "/v1/whoami", worker_jwts)
        if node:
            node_jwts = [{"headers": {"Authorization": f"Bearer {_fetch_jwt(node['plain'].base, basic, peers.NODE_TOKEN_PATH)}",
                                      "Origin": request["headers"]["Origin"]}}
                         for basic, request in zip(node_clients.basics, worker_jwts, strict=False)]
            measured["whoami"] = node["plain"].measure("GET", peers.NODE_WHOAMI_PATH, node_jwts)
    tools["load_generator"] = token.generator
    tools["workers"] = {"token": WORKERS, "token_1_worker": 1, "protected": 1, "whoami_against_node": WORKERS,
                        "raw_asgi": 1}

    bare_form_name = f"bare form POST, {WORKERS} workers"
    rows = [
        _throughput("service_token", ROWS["token"].format(clients=clients, workers=WORKERS), token, bare_form,
                    bare_form_name, Target("value", ">=", TOKEN_TARGET_RPS)),
        _latency("service_token_p50", ROWS["token_p50"].format(workers=WORKERS), token.p50_ms, bare_form.p50_ms,
                 bare_form_name),
        _latency("service_token_p99", ROWS["token_p99"].format(workers=WORKERS), token.p99_ms, bare_form.p99_ms,
                 bare_form_name),
        _throughput("service_token_1_worker", ROWS["token_1_worker"], token_1, bare_form_1, "bare form POST, 1 worker",
                    None),
        _throughput("service_whoami_jwt", ROWS["whoami_jwt"], whoami_jwt, bare_get, "bare GET",
                    Target("ratio", ">=", PROTECTED_TARGET_RATIO)),
        _latency("service_whoami_jwt_p99", ROWS["whoami_jwt_p99"], whoami_jwt.p99_ms, bare_get.p99_ms, "bare GET"),
        _throughput("service_whoami_rat", ROWS["whoami_rat"], whoami_rat, bare_get, "bare GET",
                    Target("ratio", ">=", PROTECTED_TARGET_RATIO)),
        _latency("service_whoami_rat_p99", ROWS["whoami_rat_p99"], whoami_rat.p99_ms, bare_get.p99_ms, "bare GET"),
        _throughput("service_forward_jwt", ROWS["forward_jwt"], forward_jwt, bare_get, "bare GET",
                    Target("ratio", ">=", PROTECTED_TARGET_RATIO)),
        _latency("service_forward_jwt_p99", ROWS["forward_jwt_p99"], forward_jwt.p99_ms, bare_get.p99_ms,
                 "bare GET"),
        _throughput("service_forward_rat", ROWS["forward_rat"], forward_rat, bare_get, "bare GET",
                    Target("ratio", ">=", PROTECTED_TARGET_RATIO)),
        *gateway_rows,
        *_peer_rows(token, floor, measured, node_missing, whoami_workers, bare_get, raw_get),
    ]
    return rows, tools


def _install_node_oidc(tools: dict) -> tuple[Path | None, str]:
    """node-oidc-provider's folder, or None and the reason its rows are skipped."""
    try:
        tools["node"] = peers.node_version()
        print(f"· node-oidc-provider {peers.node_oidc_version()}: npm ci into {peers.cache_root()} unless there",
              file=sys.stderr, flush=True)
        installed = peers.install_node_oidc(NPM_TIMEOUT_S)
    except peers.Unavailable as why:
        return None, str(why)
    tools["node_oidc_provider"] = peers.node_oidc_version()
    return installed, ""


def _peer_name(key: str) -> str:
    return PEER_ROWS[key][0].format(workers=WORKERS, version=peers.node_oidc_version())


def _peer_rows_skipped(keys, why: str) -> list[Row]:
    return [skipped(f"service_{key}", _peer_name(key), PEER_ROWS[key][1], why, PEER_ROWS[key][2]) for key in keys]



def _peer_rows(token: load.Result, floor: dict, node: dict[str, load.Result], node_missing: str,
               whoami: load.Result, bare_get: load.Result, raw_get: load.Result) -> list[Row]:
    """Ours over each peer's: the value is always this service's, the baseline the peer's."""
    def against(key: str, ours: load.Result, theirs: load.Result, theirs_name: str) -> Row:
        named = f"{theirs_name}; p50 {theirs.p50_ms:.1f} ms, p99 {theirs.p99_ms:.1f} ms"
        return _throughput(f"service_{key}", _peer_name(key), ours, theirs, named, PEER_ROWS[key][2])

    floor_name = f"argon2id alone, {floor['workers']} {floor['by']}"
    rows = [
        Row(key="service_token_tail", name=_peer_name("token_tail"), unit="ms", value=token.p99_ms,
            baseline=token.p50_ms, baseline_name="its p50", target=PEER_ROWS["token_tail"][2]),
        Row(key="service_peer_argon2_floor", name=_peer_name("peer_argon2_floor"), unit="req/s", value=token.rps,
            baseline=floor["rate"], baseline_name=floor_name, target=PEER_ROWS["peer_argon2_floor"][2],
            note=f"verifications/s: {floor['threads']:,.0f} on threads, {floor['processes']:,.0f} on processes",
            extra={k: v for k, v in floor.items() if k != "rate"}),
    ]
    if node:
        rows += [
            against("peer_node_argon2", token, node["argon2id"], "node-oidc-provider + argon2id"),
            against("peer_node_plain", token, node["plain"], "node-oidc-provider, plaintext"),
            against("peer_node_whoami", whoami, node["whoami"], "node-oidc-provider + jose"),
        ]
    else:
        rows += _peer_rows_skipped(NODE_ROWS, node_missing)
    rows.append(against("peer_raw_asgi", bare_get, raw_get, "raw ASGI"))
    return rows


def _asked(request: dict, path: str) -> dict:
    """The request nginx's auth_request subrequest makes for a client's GET of `path` (docs/gateway/nginx.conf)."""
    return {"headers": {**request["headers"], "X-Original-Method": "GET", "X-Original-URI": path,
                        "X-Forwarded-For": "127.0.0.1"}}


def _gateway(workdir: Path, service: str, jwt_requests: list[dict], connections: int, seconds: float,
             warm_up: bool, tools: dict) -> list[Row]:
    """The same client GET through nginx twice: with auth_request to the service, and straight through."""
    binary = gateway.nginx_binary()
    if binary is None:
        why = "nginx is not installed"
        return [skipped(f"service_{key}", name, "ms" if "_p" in key else "req/s", why)
                for key, name in GATEWAY_ROWS.items()]
    auth_port = urlsplit(service).port
    with gateway.running(binary, workdir / "nginx", auth_port) as gw:
        tools["nginx"] = gw.version
        guarded, straight = _Runner(gw.guarded, connections, seconds), _Runner(gw.straight, connections, seconds)
        if warm_up:  # nginx's upstream connections opened before the first measured run
            straight.warm_up(API_PATH, jwt_requests)
            guarded.warm_up(API_PATH, jwt_requests)
        direct = straight.measure("GET", API_PATH, jwt_requests)  # same headers: the upstream ignores them
        asked = guarded.measure("GET", API_PATH, jwt_requests)
    base_name = "same GET, nginx straight to the upstream"
    return [
        _throughput("service_gateway_jwt", GATEWAY_ROWS["gateway_jwt"], asked, direct, base_name, None),
        _latency("service_gateway_jwt_p99", GATEWAY_ROWS["gateway_jwt_p99"], asked.p99_ms, direct.p99_ms, base_name),
    ]


def _seed(url: str, clients: int, bearers: int) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """`clients` API Clients made through the store (so each has its own secret), `bearers` tokens.

    Returns the Basic credentials of every client, (Basic, an allowed Origin) for the JWT run,
    and the restricted token values.
    """
    db = seed.open_store(url)
    try:
        store = LocalStore(db)
        basics, with_origin = [], []
        for i in range(clients):
            origins = seed.origins_for(i) or [f"https://app{i}.example.com"]
            created = store.create_client(ClientDraft(name=seed.client_name(i), allowed_origins=origins))
            basic = seed.basic_credentials(created.client.client_id, created.secret)
            basics.append(basic)
            if len(with_origin) < bearers:
                with_origin.append((basic, origins[0]))
        values = [
            store.create_token(TokenDraft(name=f"Storefront {i:03d}", allowed_ips="203.0.113.0/24, 127.0.0.1")).value
            for i in range(bearers)
        ]
    finally:
        db.dispose()
    return basics, with_origin, values


def _forget_use(url: str) -> None:
    db = Database(url)
    try:
        with db.write() as conn:
            conn.execute(api_clients.update().values(last_used_at=None))
    finally:
        db.dispose()


@contextmanager
def _server(db_url: str, log_path: Path, workers: int = 1):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bench.serve", db_url, str(port), str(workers)]
    with serving(argv, log_path, lambda: answers(base + BARE_GET), env={**os.environ, "TURRIS_ISSUER": base}):
        yield base


def _expect_ok(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}")
    return response


def _fetch_jwt(base: str, basic: str, path: str = "/oauth/token") -> str:
    response = httpx.post(base + path, headers={"Authorization": f"Basic {basic}", **FORM}, content=GRANT)
    return _expect_ok(response).json()["access_token"]


class _Runner:
    def __init__(self, base: str, connections: int, seconds: float) -> None:
        self.base = base
        self.connections = connections
        self.seconds = seconds

    def warm_up(self, path: str = BARE_GET, requests: list[dict] | None = None, method: str = "GET") -> None:
        requests = requests or [{"headers": {}}]
        load.run(load.Spec(self.base + path, method, requests, self.connections, min(self.seconds, 1.0)))

    def measure(self, method: str, path: str, requests: list[dict], seconds: float | None = None) -> load.Result:
        # Every shape must answer 200 first: a fast refusal would look like speed.
        for req in requests[:3]:
            _expect_ok(httpx.request(method, self.base + path, headers=req["headers"], content=req.get("body")))
        result = load.run(load.Spec(self.base + path, method, requests, self.connections, seconds or self.seconds))
        if result.failed:
            raise RuntimeError(f"{method} {path}: {result.failed} of {result.requests} requests failed under load")
        return result


def _interleaved(rounds: int, shapes: dict[str, Callable[[], T]]) -> dict[str, list[T]]:
    """Each shape measured once a round for `rounds` rounds: every round's result, by shape."""
    runs: dict[str, list[T]] = {name: [] for name in shapes}
    for _ in range(rounds):
        for name, measure in shapes.items():
            runs[name].append(measure())
    return runs


def _load(runner: _Runner, method: str, path: str, requests: list[dict], rounds: int) -> Callable[[], load.Result]:
    """One round's load run of a shape: the runner's time split over the rounds."""
    return lambda: runner.measure(method, path, requests, seconds=runner.seconds / rounds)


def _merged(runs: dict[str, list[load.Result]]) -> dict[str, load.Result]:
    return {name: load.merged(results) for name, results in runs.items()}


def _throughput(key: str, name: str, run: load.Result, base: load.Result, base_name: str, target: Target | None) -> Row:
    return Row(
        key=key,
        name=name,
        unit="req/s",
        value=run.rps,
        baseline=base.rps,
        baseline_name=base_name,
        target=target,
        note=f"{run.requests:,} requests in {run.seconds:.1f} s; p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms",
        extra={"p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "requests": run.requests,
               "baseline_p50_ms": base.p50_ms, "baseline_p99_ms": base.p99_ms, "baseline_requests": base.requests},
    )


def _latency(key: str, name: str, value: float, baseline: float, base_name: str) -> Row:
    return Row(key=key, name=name, unit="ms", value=value, baseline=baseline, baseline_name=base_name)
