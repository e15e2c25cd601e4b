"""Request bodies read within limits: a pushed summary, a dashboard form."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from gating.verdicts import MAX_BY_CHARS, MAX_REASON_CHARS

__all__ = ["FORM_BYTES", "FORM_FIELDS", "body_within", "form_within"]

# The dashboard's forms (sign in, decide): the longest reason the CLI takes, 10,000
# characters of four UTF-8 bytes each, percent-encoded (x3), and the other fields. At
# 64 KiB, 7,300 CJK characters were a 413 in the browser and a decision by `decide`.
FORM_BYTES = (MAX_REASON_CHARS * 4 + MAX_BY_CHARS * 4) * 3 + 8 * 1024
FORM_FIELDS = 20  # and have at most seven fields


async def body_within(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it is larger than ``limit`` (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def form_within(request: Request) -> dict[str, str]:
    """A dashboard form's fields: urlencoded (415 otherwise), at most FORM_BYTES (413) and
    FORM_FIELDS (400). Starlette's own parser took a thousand fields of 1 MB each, in
    memory (0.9 GB a request, before the token was looked at), and multipart file parts
    of any size on disk."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await body_within(request, FORM_BYTES)
    if body is None:
        raise HTTPException(413, f"the form is larger than {FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=FORM_FIELDS
        )
    except ValueError:
        raise HTTPException(400, f"the form has more than {FORM_FIELDS} fields") from None
    return dict(pairs)
