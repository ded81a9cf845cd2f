"""Probes and metrics: /health/live, /health/ready and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from turris_api.server import metrics
from turris_api.server.deps import ServiceDep
from turris_api.server.responses import json_response
from turris_api.store.errors import StoreError

router = APIRouter(tags=["Operations"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health/live", summary="The process is up and answering (restart it if not)")
async def live() -> Response:
    return json_response(200, {"status": "live"}, NO_STORE)


@router.get("/health/ready", summary="200 only if the store can be read and a token signed now; else 503")
async def ready(service: ServiceDep) -> Response:
    problems = await run_in_threadpool(_problems, service)
    if problems:
        return json_response(503, {"status": "unavailable", "problems": problems}, {**NO_STORE, "Retry-After": "5"})
    return json_response(200, {"status": "ready"}, NO_STORE)


def _problems(service) -> list[dict[str, str]]:
    problems = []
    try:
        service.db.ping()
    except StoreError as err:
        problems.append({"check": "store", "reason": err.message})
    try:
        service.issuer.probe_signing()
    except StoreError as err:
        problems.append({"check": "signing", "reason": err.message})
    return problems


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", include_in_schema=False)
def prometheus(service: ServiceDep) -> Response:
    body, content_type = metrics.exposition(service.settings.metrics_multiprocess)
    return Response(body, media_type=content_type, headers=NO_STORE)
