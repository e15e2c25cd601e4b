"""Tests for daemon.web.bodies: the dashboard's forms and pushed summaries read within limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from daemon.web.bodies import FORM_BYTES, FORM_FIELDS
from tests.web.conftest import ORIGIN

URLENCODED = "application/x-www-form-urlencoded"


def _token_field(size: int) -> bytes:
    """A urlencoded form of one field, ``token``, ``size`` bytes in all."""
    return b"token=" + b"x" * (size - len(b"token="))


@pytest.mark.folder_only
@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        (URLENCODED, _token_field(100), 403),  # read: a wrong token
        (URLENCODED, _token_field(FORM_BYTES), 403),
        (URLENCODED, _token_field(FORM_BYTES + 1), 413),
        (URLENCODED, b"&".join(b"f%d=1" % n for n in range(FORM_FIELDS)), 403),
        (URLENCODED, b"&".join(b"f%d=1" % n for n in range(FORM_FIELDS + 1)), 400),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="token"; filename="x"\r\n\r\n'
            b"x\r\n--b--\r\n",
            415,
        ),
        ("application/json", b'{"token": "x"}', 415),
        ("", b"token=x", 415),
    ],
)
def test_a_form_is_read_within_its_limits(
    writer: TestClient, content_type: str, body: bytes, status: int
) -> None:
    """Sign-in takes a urlencoded form of at most FORM_BYTES and FORM_FIELDS; anything
    else is refused before it is parsed (a thousand fields of 1 MB were 0.9 GB in memory,
    a multipart file part any size on disk)."""
    headers = {"origin": ORIGIN, "content-type": content_type}
    answer = writer.post("/login", content=body, headers=headers)
    assert answer.status_code == status, answer.text[:300]


@pytest.mark.folder_only
def test_a_form_declared_or_sent_past_the_limit_is_refused(writer: TestClient) -> None:
    """A form declaring a gigabyte is refused on its Content-Length, and one sent in chunks
    with no length once past FORM_BYTES."""

    def chunks() -> Iterator[bytes]:
        yield b"token="
        for _ in range(20):
            yield b"x" * 65536

    headers = {"origin": ORIGIN, "content-type": URLENCODED}
    declared = {**headers, "content-length": str(10**9)}
    assert writer.post("/login", content=b"token=x", headers=declared).status_code in (400, 413)
    assert writer.post("/login", content=chunks(), headers=headers).status_code == 413
