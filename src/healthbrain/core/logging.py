"""Structured logging: ids and counts only, never names, ID numbers or free text."""

from __future__ import annotations

import logging
import sys

import orjson

_RECORD_KEYS = frozenset({"ts", "level", "logger", "event"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields come from `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                # a field never hides the record's own ts, level, logger or event
                payload[f"field_{key}" if key in _RECORD_KEYS else key] = value
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("healthbrain")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
