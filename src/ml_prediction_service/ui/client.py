"""A small synchronous client of the service's REST API (httpx), used by the UI pages.

Every error becomes :class:`ApiError` (the API answered with an error) or
:class:`ApiUnavailable` (no answer at all), so pages can show a message instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

import httpx

Json = dict[str, Any]
Params = Mapping[str, str | int | float | bool | None]


class ApiError(RuntimeError):
    """The API answered with an error (``status``, the API's ``code`` and ``detail``)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} (HTTP {status}, {code})")
        self.status = status
        self.code = code
        self.detail = detail


class ApiUnavailable(ApiError):
    """The API could not be reached (refused, timed out, not HTTP)."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(0, "unreachable", f"cannot reach the API at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


def _clean(params: Params | None) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in (params or {}).items() if v is not None}


def iso(value: datetime | None) -> str | None:
    """A query parameter for a datetime (None stays None)."""
    return value.isoformat() if value is not None else None


class ApiClient:
    """The endpoints the UI needs. Sends ``X-API-Key`` when an API key is configured."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (),
    ) -> Json:
        """JSON body of a 2xx answer (or of a status listed in ``ok``), else an ApiError."""
        try:
            resp = self._http.request(method, path, params=_clean(params), json=json)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(self.base_url, f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ApiUnavailable(self.base_url, str(exc) or type(exc).__name__) from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.is_success or resp.status_code in ok:
            if not isinstance(body, dict):
                raise ApiUnavailable(self.base_url, f"{path} did not answer with JSON")
            return cast(Json, body)
        if isinstance(body, dict) and "detail" in body:
            detail = body["detail"]
            text = detail if isinstance(detail, str) else str(detail)
            raise ApiError(resp.status_code, str(body.get("code", "error")), text)
        raise ApiError(resp.status_code, "http_error", resp.text[:300] or resp.reason_phrase)

    def get(self, path: str, params: Params | None = None) -> Json:
        return self.request("GET", path, params=params)

    # -- system -----------------------------------------------------------------------
    def health(self) -> Json:
        """The health document; a degraded service (503) is an answer, not an error."""
        return self.request("GET", "/api/health", ok=(503,))

    def stats(self) -> Json:
        return self.get("/api/stats")

    # -- models -----------------------------------------------------------------------
    def models(self, *, include_inactive: bool = True) -> list[Json]:
        path = "/api/models" if include_inactive else "/api/models/active"
        return cast(list[Json], self.get(path)["models"])

    def available(self) -> Json:
        return self.get("/api/models/available")

    def import_model(self, model_id: int) -> Json:
        return self.request("POST", "/api/models/import", json={"model_id": model_id})

    def activate(self, active_id: int) -> Json:
        return self.request("POST", f"/api/models/{active_id}/activate")

    def deactivate(self, active_id: int) -> Json:
        return self.request("POST", f"/api/models/{active_id}/deactivate")

    def rename(self, active_id: int, name: str) -> Json:
        return self.request("PATCH", f"/api/models/{active_id}/rename", json={"name": name})

    def set_threshold(self, active_id: int, threshold: float) -> Json:
        return self.request(
            "PATCH",
            f"/api/models/{active_id}/alert-threshold",
            json={"alert_threshold": threshold},
        )

    def set_webhook(self, active_id: int, settings: Json) -> Json:
        return self.request("PATCH", f"/api/models/{active_id}/webhook", json=settings)

    def webhook_test(self, active_id: int) -> Json:
        return self.request("POST", f"/api/models/{active_id}/webhook-test")

    def set_ignore_windows(
        self, active_id: int, *, alert: int, positive: int, negative: int
    ) -> Json:
        """Seconds of coin time per tag (0: off)."""
        return self.request(
            "PATCH",
            f"/api/models/{active_id}/ignore-windows",
            json={"alert": alert, "positive": positive, "negative": negative},
        )

    def set_coin_filter(self, active_id: int, mode: str, coins: list[str]) -> Json:
        return self.request(
            "PATCH",
            f"/api/models/{active_id}/coin-filter",
            json={"mode": mode, "coins": coins},
        )

    def delete_model(self, active_id: int) -> Json:
        return self.request("DELETE", f"/api/models/{active_id}")

    def model_defaults(self) -> Json:
        return self.get("/api/settings/model-defaults")

    def set_model_defaults(self, changes: Json) -> Json:
        return self.request("PATCH", "/api/settings/model-defaults", json=changes)

    # -- predictions and coins --------------------------------------------------------
    def predictions(self, **filters: str | int | float | bool | None) -> Json:
        """``GET /api/predictions``; pass ``from_`` for the ``from`` parameter."""
        params = dict(filters)
        if "from_" in params:
            params["from"] = params.pop("from_")
        return self.get("/api/predictions", params)

    def coin_metrics(
        self, coin_id: str, *, since: datetime | None = None, limit: int = 1000
    ) -> Json:
        return self.get(
            f"/api/coins/{quote(coin_id, safe='')}/metrics",
            {"from": iso(since), "limit": limit},
        )

    # -- outcomes and live quality ----------------------------------------------------
    def evaluations(self, **filters: str | int | float | bool | None) -> Json:
        """``GET /api/evaluations`` (``items``, ``total``); pass ``from_`` for ``from``."""
        params = dict(filters)
        if "from_" in params:
            params["from"] = params.pop("from_")
        return self.get("/api/evaluations", params)

    def alert_statistics(self, window: str = "all") -> Json:
        return self.get("/api/alerts/statistics", {"window": window})

    def model_statistics(self, active_id: int, window: str = "all") -> Json:
        return self.get(f"/api/models/{active_id}/statistics", {"window": window})

    # -- webhooks ---------------------------------------------------------------------
    def webhook_log(self, **filters: str | int | None) -> Json:
        return self.get("/api/webhooks/log", filters)

    def outbox(self) -> Json:
        return self.get("/api/webhooks/outbox")

    def deliveries(
        self,
        *,
        status: str | None = None,
        coin_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Json:
        return self.get(
            "/api/webhooks/outbox/deliveries",
            {"status": status, "coin_id": coin_id, "limit": limit, "offset": offset},
        )

    def retry_delivery(self, delivery_id: int) -> Json:
        """Re-send one failed or expired delivery (404 for any other)."""
        return self.request("POST", f"/api/webhooks/outbox/{delivery_id}/retry")

    def retry_deliveries(
        self,
        statuses: list[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Json:
        """Re-send the failed and/or expired deliveries created in [since, until]."""
        body: Json = {"status": statuses}
        if since is not None:
            body["from"] = since.isoformat()
        if until is not None:
            body["to"] = until.isoformat()
        return self.request("POST", "/api/webhooks/outbox/retry", json=body)
