"""Structured log lines: one JSON object each, whose own keys no field can overwrite."""

from __future__ import annotations

import logging

import orjson

from healthbrain.core.logging import JsonFormatter


def _line(**fields: object) -> dict[str, object]:
    record = logging.LogRecord(
        "healthbrain.cds.alerts", logging.INFO, __file__, 1, "cds.alert_raised", None, None
    )
    record.fields = fields
    return dict(orjson.loads(JsonFormatter().format(record)))


def test_fields_join_the_line_without_hiding_its_level_or_event() -> None:
    line = _line(alert="a1", level=0, event="other", kind="critical")
    assert line["level"] == "INFO" and line["event"] == "cds.alert_raised"
    assert line["logger"] == "healthbrain.cds.alerts"
    assert line["field_level"] == 0 and line["field_event"] == "other"
    assert line["alert"] == "a1" and line["kind"] == "critical"
