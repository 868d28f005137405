"""ECharts options built on the server (plain JSON, no functions): the browser only draws them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["bar_option", "line_option"]

PALETTE = ["#1f5fa8", "#c2410c", "#0f766e", "#7c3aed", "#b45309", "#475569"]


def _base(title: str) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "aria": {"enabled": True, "label": {"description": title}},
        "grid": {"left": 48, "right": 24, "top": 36, "bottom": 40, "containLabel": True},
        "tooltip": {"trigger": "axis"},
    }


def line_option(
    title: str,
    x: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    band: tuple[float, float] | None = None,
    band_label: str = "",
) -> dict[str, Any]:
    """A line chart; `band` shades a reference range (low, high) behind the lines."""
    option = _base(title)
    option["legend"] = {"top": 0}
    option["xAxis"] = {"type": "category", "data": list(x), "boundaryGap": False}
    option["yAxis"] = {"type": "value", "min": y_min, "max": y_max, "scale": y_min is None}
    option["series"] = [
        {"name": name, "type": "line", "data": list(values), "connectNulls": True, "symbolSize": 6}
        for name, values in series
    ]
    if band is not None and option["series"]:
        option["series"][0]["markArea"] = {
            "silent": True,
            "itemStyle": {"color": "rgba(15,118,110,0.12)"},
            "data": [[{"yAxis": band[0], "name": band_label}, {"yAxis": band[1]}]],
        }
    return option


def bar_option(
    title: str, labels: Sequence[str], values: Sequence[float], *, horizontal: bool = True
) -> dict[str, Any]:
    """A bar chart (horizontal by default: long Chinese labels stay readable)."""
    option = _base(title)
    option["tooltip"] = {"trigger": "item"}
    cat = {"type": "category", "data": list(labels), "inverse": horizontal}
    val = {"type": "value"}
    option["xAxis"], option["yAxis"] = (val, cat) if horizontal else (cat, val)
    option["series"] = [{"type": "bar", "data": list(values), "label": {"show": True, "position": "right"}}]
    return option
