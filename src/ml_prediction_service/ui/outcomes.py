"""Outcome data of the UI (no Streamlit here, easy to test): the rows of the "Alert quality"
page's tables, and what an alert's evaluation means for its mark in the coin view.

Figures and their definitions: docs/evaluation.md ("Live model quality")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from ml_prediction_service.ui.format import fmt_move, fmt_prob, fmt_ts, short_coin

Json = dict[str, Any]
Outcome = Literal["came_true", "not_true", "not_applicable", "pending"]

# The API's windows (GET /api/alerts/statistics?window=…) as the page offers them.
WINDOWS: dict[str, str] = {"Last hour": "1h", "Last 24 h": "24h", "All time": "all"}
OUTCOME_TEXT: dict[Outcome, str] = {
    "came_true": "came true",
    "not_true": "did not come true",
    "not_applicable": "not evaluable",
    "pending": "not evaluated yet",
}
NO_ALERTS_YET = (
    "No evaluated alerts yet: the first arrive future_minutes ({minutes} min) after an alert "
    "(plus EVALUATION_SETTLE_SECONDS), once the coin has a row after the horizon."
)


def _share(value: Any) -> float | None:
    return float(value) if value is not None else None


def quality_rows(models: Sequence[Json]) -> list[Json]:
    """One row per model of ``GET /api/alerts/statistics``: live figures beside training's
    (shares as 0–1 floats for the table's percent columns; None where there is none)."""
    rows = []
    for m in models:
        rows.append(
            {
                "model": str(m["name"]),
                "active": bool(m.get("is_active")),
                "horizon": f"{m['future_minutes']} min" if m.get("future_minutes") else "none",
                "alerts": int(m["alerts"]),
                "came true": int(m["alerts_true"]),
                "alert precision": _share(m.get("alert_precision")),
                "training precision": _share(m.get("training_precision")),
                "base rate": _share(m.get("base_rate")),
                "training base rate": _share(m.get("training_base_rate")),
                "hit rate": _share(m.get("positive_hit_rate")),
                "mean move after alert": (
                    float(m["mean_move_after_alert"])
                    if m.get("mean_move_after_alert") is not None
                    else None
                ),
                "accuracy": _share(m.get("accuracy")),
                "evaluated": int(m["evaluated"]),
                "not applicable": int(m["not_applicable"]),
                "note": "" if m.get("evaluable", True) else str(m.get("reason") or ""),
            }
        )
    return rows


def outcome(evaluation: Json | None) -> Outcome:
    """An alert's mark: came true (its target was hit), did not, not evaluable, or pending
    (no evaluation stored yet)."""
    if evaluation is None or evaluation.get("result") == "pending":
        return "pending"
    hit = evaluation.get("target_hit")
    if hit is None:
        return "not_applicable"
    return "came_true" if hit else "not_true"


def alert_rows(items: Iterable[Json]) -> list[Json]:
    """Evaluated alerts of ``GET /api/evaluations`` as the page's table rows (text)."""
    return [
        {
            "coin": short_coin(str(e["coin_id"])),
            "data time (UTC)": fmt_ts(e["data_timestamp"]),
            "probability": fmt_prob(e["probability"]),
            "realised move": fmt_move(e.get("realised_change_pct")),
            "window high": fmt_move(e.get("max_change_pct")),
            "window low": fmt_move(e.get("min_change_pct")),
            "result": OUTCOME_TEXT[outcome(e)],
            "note": e.get("note") or "",
        }
        for e in items
    ]


def by_prediction(items: Iterable[Json]) -> dict[int, Json]:
    """Evaluations by prediction id (to join them to the coin view's predictions)."""
    return {int(e["prediction_id"]): e for e in items}


def reasons_text(reasons: Sequence[Json] | None, *, sep: str = "<br>") -> str:
    """An alert's top features: ``feature = value (+contribution)``, one per line."""
    if not reasons:
        return "no reasons stored"
    return sep.join(
        f"{r['feature']} = {float(r['value']):.4g} ({float(r['contribution']):+.3g})"
        for r in reasons
    )


def alert_hover(prediction: Json, evaluation: Json | None) -> str:
    """The hover text of an alert's mark: probability, outcome with the realised move and the
    window's high and low, and its reasons."""
    mark = outcome(evaluation)
    lines = [f"alert P={fmt_prob(prediction.get('probability'))}: {OUTCOME_TEXT[mark]}"]
    if evaluation is not None and mark in ("came_true", "not_true"):
        lines.append(
            f"realised move {fmt_move(evaluation.get('realised_change_pct'))} "
            f"(high {fmt_move(evaluation.get('max_change_pct'))}, "
            f"low {fmt_move(evaluation.get('min_change_pct'))})"
        )
    if evaluation is not None and evaluation.get("note"):
        lines.append(str(evaluation["note"]))
    lines.append("reasons: " + reasons_text(prediction.get("reasons"), sep="; "))
    return "<br>".join(lines)


def floor_entry(health: Json, active_model_id: int) -> Json | None:
    """The model's entry in /health's ``models_below_precision_floor`` (None: not below)."""
    for entry in health.get("models_below_precision_floor") or []:
        if int(entry["id"]) == active_model_id:
            return dict(entry)
    return None
