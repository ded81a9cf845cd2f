"""Prometheus metrics. Labels are fixed vocabularies (route templates, reasons, results), never
an identifier, so cardinality stays bounded and nothing secret can reach a label.

With several workers, prometheus_client's multiprocess mode is used (`serve` points
PROMETHEUS_MULTIPROC_DIR at a private folder before the workers start), so one scrape of
/metrics answers for the whole instance whichever worker it reaches.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess

TOKENS_ISSUED = Counter("turris_tokens_issued", "Access tokens issued by /oauth/token.")
TOKENS_REFUSED = Counter("turris_token_refusals", "Token requests refused, by reason (the OAuth error code).",
                         ["reason"])
AUTHORIZATIONS = Counter("turris_authorizations", "Bearer checks on the protected API, by result.", ["result"])
STORE_ERRORS = Counter("turris_store_errors", "Requests that met a store failure (answered 5xx).", ["kind"])
REQUEST_SECONDS = Histogram(
    "turris_request_duration_seconds", "Time to answer a request, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
RESPONSES = Counter("turris_responses", "Answers by route template, method and status class.",
                    ["route", "method", "status"])

_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
# labels() checks and converts its values on every call, costing more than the count itself; the
# label values are fixed vocabularies, so each child is looked up once and kept.
_children: dict[tuple, Any] = {}


def child(metric: Counter | Histogram, *labels: str):
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def observe(route: str, method: str, status: int, seconds: float) -> None:
    child(REQUEST_SECONDS, route, method).observe(seconds)
    child(RESPONSES, route, method, _STATUS_CLASS.get(status // 100, "other")).inc()


def exposition(multiprocess: bool) -> tuple[bytes, str]:
    """The text exposition format; in multiprocess mode the sum over every worker's files."""
    if multiprocess:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
