"""FHIR JSON responses and request bodies (orjson, size-limited, precise errors)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from healthbrain.core.errors import InvalidInput, Issue, TooLarge

FHIR_JSON = "application/fhir+json; charset=utf-8"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


async def read_json(request: Request, max_bytes: int) -> Any:
    """Read and parse a JSON body; 413 past `max_bytes`, 400 with the position for malformed JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"the body exceeds the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise InvalidInput("the request body is empty", code="request.empty_body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"malformed JSON at line {exc.lineno}, column {exc.colno}"
        raise InvalidInput(
            msg, issues=[Issue("error", "structure", msg)], code="request.malformed_json"
        ) from exc
