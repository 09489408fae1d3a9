"""Plain-text formatting for the UI (no Streamlit here, easy to test)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MODEL_TYPES = {"random_forest": "Random Forest", "xgboost": "XGBoost"}


def parse_ts(value: Any) -> datetime | None:
    """An API timestamp (ISO 8601 string) as an aware datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fmt_ts(value: Any) -> str:
    """``2026-11-01 12:00:05`` in UTC, or ``–``."""
    ts = parse_ts(value)
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "–"


def fmt_span(seconds: float) -> str:
    """``42 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def ago(value: Any, now: datetime | None = None) -> str:
    """``12 s ago`` (or ``in 5 min`` for a time in the future), ``never`` for None."""
    ts = parse_ts(value)
    if ts is None:
        return "never"
    delta = ((now or datetime.now(UTC)) - ts).total_seconds()
    if abs(delta) < 1:
        return "just now"
    return f"{fmt_span(delta)} ago" if delta > 0 else f"in {fmt_span(delta)}"


def fmt_int(value: Any) -> str:
    return f"{int(value):,}".replace(",", "\u202f") if value is not None else "–"


def fmt_prob(value: Any) -> str:
    return f"{float(value):.1%}" if value is not None else "–"


def fmt_threshold(value: Any) -> str:
    """``70%`` or ``72.5%``."""
    if value is None:
        return "–"
    text = f"{float(value) * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "measuring…"
    return f"{value:.1f}/s" if value < 100 else f"{value:,.0f}/s"


def model_type(value: Any) -> str:
    return MODEL_TYPES.get(str(value), str(value))


def _num(value: Any) -> str:
    number = float(value)
    return f"{number:g}"


def target_text(model: dict[str, Any]) -> str:
    """What the model predicts, in one line."""
    variable = model.get("target_variable") or "?"
    if model.get("future_minutes"):
        direction = model.get("target_direction") or "up"
        sign = "≥" if direction == "up" else "≤ −"
        change = model.get("price_change_percent")
        amount = f" {sign}{_num(change)}%" if change is not None else ""
        return f"{variable} {direction}{amount} within {model['future_minutes']} min"
    operator = model.get("target_operator")
    value = model.get("target_value")
    if operator and value is not None:
        return f"{variable} {operator} {_num(value)}"
    return str(variable)


def target_kind(model: dict[str, Any]) -> str:
    return "time-based" if model.get("future_minutes") else "rule-based"


def short_coin(coin_id: str, keep: int = 6) -> str:
    """``AbCdEf…WxYz`` for long mints; short ids unchanged."""
    if len(coin_id) <= 2 * keep + 1:
        return coin_id
    return f"{coin_id[:keep]}…{coin_id[-4:]}"


def runtime_text(model: dict[str, Any]) -> str:
    runtime = model.get("runtime") or {}
    status = runtime.get("status") or "?"
    engine = runtime.get("runtime")
    if status == "loaded" and engine:
        return f"loaded ({engine})"
    if status == "error":
        return f"error: {runtime.get('error') or 'unknown'}"
    return str(status)


def fmt_ms(value: Any) -> str:
    """A duration in milliseconds: ``85 ms``, ``1.2 s``, ``3 min``; ``–`` for None."""
    if value is None:
        return "–"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return fmt_span(ms / 1000)


def parse_mints(text: str) -> list[str]:
    """Mints typed one per line and/or comma separated: stripped, empty ones and repeats
    dropped, in the order given."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        for part in line.split(","):
            mint = part.strip()
            if mint:
                seen.setdefault(mint, None)
    return list(seen)


def fmt_move(value: Any) -> str:
    """A price move in percent with its sign: ``+8.0%``, ``-2.5%``; ``–`` for None."""
    return f"{float(value):+.1f}%" if value is not None else "–"
