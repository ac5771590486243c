"""Schemathesis hooks for keygate's admin API.

JSON Schema states what a single field may hold; a few of the server's rules relate a
field to the clock, to the store, or to another field, which no schema can say. Each is
written in the field's description in the OpenAPI document, and the server answers 422
(or 404/409) when one is broken. So that `positive_data_acceptance` tests what the schema
can promise, these hooks move *positive* cases (valid by the schema) onto the right side
of exactly those rules, and nothing else. Negative cases are never touched.

- `expiresAt` must be in the future (a valid past date is moved a year ahead);
- `role` must name a role that exists (a well-formed unknown name becomes the role
  `KEYGATE_ST_ROLE`, which the run creates);
- a rate limit's full burst must refill within a year (window x burst / requests
  <= 31536000 s: the burst is lowered to the largest that does), also each of `limits`;
- a personal key needs an owner (one is set when the case has none).

And the run's own admin key is never a case's subject (see `_spare_the_admin_key`).
"""

import datetime
import os
import re

import schemathesis

YEAR = 31_536_000
KNOWN_ROLE = os.environ.get("KEYGATE_ST_ROLE", "st-viewer")


def _future(value):
    if not isinstance(value, str):
        return value
    try:
        at = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    if at.tzinfo is None:
        return value
    now = datetime.datetime.now(datetime.timezone.utc)
    if at <= now + datetime.timedelta(minutes=5):
        return (now + datetime.timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


UNITS = {"s": 1, "m": 60, "h": 3600, "day": 86400}


def _whole(value):
    """An integer, also when JSON wrote it as a whole float (`143772.0`), as the server
    reads it; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _refillable(limit):
    if isinstance(limit, str):
        # "N/unit,burst=B[,quota=Q][,shadow]", the documented pattern's form.
        match = re.fullmatch(r"(\d+)/(s|m|h|day|\d+s),burst=(\d+)(,quota=\d+)?(,shadow)?", limit)
        if match:
            unit = match[2]
            per = UNITS[unit] if unit in UNITS else int(unit[:-1])
            requests, burst = int(match[1]), int(match[3])
            if requests > 0 and burst * per // requests > YEAR:
                burst = max(1, YEAR * requests // per)
                limit = f"{requests}/{match[2]},burst={burst}{match[4] or ''}{match[5] or ''}"
        return limit
    if not isinstance(limit, dict):
        return limit
    requests = _whole(limit.get("requests"))
    per = _whole(limit.get("perSeconds")) or 3600
    burst = _whole(limit.get("burst"))
    if requests is not None and burst is not None and requests > 0 and per > 0:
        most = max(1, YEAR * requests // per)
        if burst * per // requests > YEAR:
            limit = dict(limit, burst=min(burst, most))
    return limit


ADMIN_ID = os.environ.get("KEYGATE_ST_ADMIN_ID", "")


def _spare_the_admin_key(case):
    """The run's own credential is not a test subject: a case naming its id (found
    through `GET /v1/auth/me`) is pointed at a key that does not exist, so a rotation,
    narrowing, disable or revoke of it cannot end the run's access (every later case
    would then be a 401)."""
    params = getattr(case, "path_parameters", None)
    if ADMIN_ID and isinstance(params, dict) and params.get("id") == ADMIN_ID:
        case.path_parameters = dict(params, id="key_notTheRunsAdminKey")


@schemathesis.hook
def map_case(context, case):
    _spare_the_admin_key(case)
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if not positive or not isinstance(case.body, dict):
        return case
    body = dict(case.body)
    if "expiresAt" in body:
        body["expiresAt"] = _future(body["expiresAt"])
    if isinstance(body.get("role"), str):
        body["role"] = KNOWN_ROLE
    if "rateLimit" in body:
        body["rateLimit"] = _refillable(body["rateLimit"])
    if isinstance(body.get("limits"), dict):
        body["limits"] = {name: _refillable(limit) for name, limit in body["limits"].items()}
    if body.get("kind") == "personal" and not body.get("owner"):
        body["owner"] = "st-owner"
    case.body = body
    return case
