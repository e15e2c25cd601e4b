"""Tests for gating.bounded_http: answers read no further than 64 KiB, by a deadline."""

from __future__ import annotations

import time
import urllib.error

import pytest

from gating.bounded_http import ANSWER_MAX_BYTES, OPENER, read_answer
from tests.gating.strangers import answering, streaming


@pytest.mark.timeout(30)
def test_an_answer_without_end_is_read_to_64_kib_and_one_byte() -> None:
    """A body that never ends gives ANSWER_MAX_BYTES + 1 bytes: the caller sees it is too long."""
    with (
        streaming(b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 65536) as url,
        OPENER.open(url, data=b"{}", timeout=5) as response,
    ):
        assert len(read_answer(response)) == ANSWER_MAX_BYTES + 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("head", "piece"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", b"x"),
        (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"x"),
        (b"HTTP/1.", b"1"),
    ],
    ids=["body", "header", "status-line"],
)
def test_an_answer_trickled_a_byte_at_a_time_ends_at_the_timeout(head: bytes, piece: bytes) -> None:
    """Each read waits for the socket's timeout at most, and all of them together no
    longer than it either: TimeoutError about a second after the request."""
    began = time.monotonic()
    with (
        streaming(head, piece, every=0.05) as url,
        pytest.raises(TimeoutError, match="longer"),
        OPENER.open(url, data=b"{}", timeout=1) as response,
    ):
        read_answer(response)
    assert time.monotonic() - began < 5


@pytest.mark.timeout(30)
def test_a_redirect_is_an_answer_not_followed() -> None:
    """A 307 comes back as HTTPError 307 (followed, it took the token to another host)."""
    moved = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/\r\n\r\n"
    with answering(moved) as url, pytest.raises(urllib.error.HTTPError) as refused:
        OPENER.open(url, data=b"{}", timeout=5)
    refused.value.close()
    assert refused.value.code == 307
