"""Tests for daemon.web.security: loopback, token, session, CSRF and origin checks."""

from __future__ import annotations

import pytest

from daemon.web.app import host_name
from daemon.web.security import (
    LoginThrottle,
    SessionRevocations,
    csrf_token,
    csrf_valid,
    is_loopback,
    new_session,
    public_origin,
    same_origin,
    session_valid,
    token_matches,
    token_problem,
)


def test_loopback() -> None:
    """Only loopback addresses and localhost count as local."""
    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


def test_token_session_and_csrf() -> None:
    """Sessions expire and belong to one token; CSRF tokens belong to one session."""
    assert token_matches("t", "t")
    assert not token_matches("t", "u")
    assert not token_matches("t", None)
    session = new_session("t", now=1000)
    assert session_valid("t", session, now=1001)
    assert not session_valid("t", session, now=10**9)
    assert not session_valid("other", session, now=1001)
    assert not session_valid("t", "123.abc", now=1)
    assert not session_valid("t", None)
    csrf = csrf_token("t", session)
    assert csrf_valid("t", session, csrf)
    assert not csrf_valid("t", new_session("t", now=2000), csrf)
    assert not csrf_valid("t", session, "")


def test_same_origin_and_host_names() -> None:
    """Origin (else Referer) must name this host; Host headers lose their port."""
    assert same_origin("http://h:1", None, "h:1")
    assert same_origin(None, "http://h:1/review", "h:1")
    assert not same_origin("http://evil:1", "http://h:1/", "h:1")
    assert not same_origin(None, None, "h:1")
    assert not same_origin("null", None, "h:1")
    assert [host_name(h) for h in ("a:80", "[::1]:8470", "A", "::1")] == ["a", "::1", "a", "::1"]
    public = "https://dash.example.com"  # [serve] public_url behind a proxy
    assert same_origin("https://dash.example.com", None, "127.0.0.1:8470", public)
    assert same_origin(None, "https://DASH.example.com/review", "127.0.0.1:8470", public)
    assert not same_origin("http://dash.example.com", None, "127.0.0.1:8470", public)
    assert not same_origin("https://dash.example.com:444", None, "127.0.0.1:8470", public)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Dash.Example.com/", "https://dash.example.com"),
        ("https://dash.example.com:443", "https://dash.example.com"),  # as Origin says it
        ("http://dash.example.com:80", "http://dash.example.com"),
        ("https://dash.example.com:8443", "https://dash.example.com:8443"),
        ("http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080"),
        ("https://[2001:DB8::1]", "https://[2001:db8::1]"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),  # the punycode sent
        ("https://dash.example.com.", "https://dash.example.com"),
    ],
)
def test_a_public_url_is_the_origin_a_browser_sends(url: str, origin: str) -> None:
    """[serve] public_url in the form of a browser's Origin, which a form from it matches."""
    assert public_origin(url) == origin
    assert same_origin(origin, None, "127.0.0.1:8470", public_origin(url))


@pytest.mark.parametrize(
    "url", ["https://a b", "https://host;x", "https://host\\evil", "https://ho%73t",
            "https://host:0", "https://[1::2::3]", "https://", "https://."],
)  # fmt: skip
def test_a_public_url_no_browser_could_send_is_refused(url: str) -> None:
    """A host of characters no browser sends, or port 0: refused, never matched."""
    with pytest.raises(ValueError, match="as a browser sees it"):
        public_origin(url)


def test_login_throttle_waits_out_the_window_after_the_limit() -> None:
    """Five wrong tokens from one address make it wait; others are not held up; it passes."""
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0], limit=5, window=60.0)
    for _ in range(4):
        throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 60.0
    assert throttle.wait_seconds("10.0.0.2") == 0.0
    now[0] += 59.5
    assert throttle.wait_seconds("10.0.0.1") == 0.5
    now[0] += 1.0
    assert throttle.wait_seconds("10.0.0.1") == 0.0


def test_revoked_sessions_stay_refused_until_they_expire() -> None:
    """A revoked session is refused; the set forgets entries once they would have expired."""
    revoked = SessionRevocations()
    old, current = new_session("t", now=0), new_session("t", now=10_000_000)
    revoked.revoke(old, now=1)
    assert old in revoked
    revoked.revoke(current, now=10_000_000)
    assert current in revoked
    assert old not in revoked  # long expired: dropped, it could not sign in anyway


@pytest.mark.parametrize(("token", "refused"), [("x", True), ("a" * 15, True), ("a" * 16, False)])
def test_a_short_write_token_is_refused(token: str, refused: bool) -> None:
    """A write token under 16 characters is named as too weak."""
    assert (token_problem(token) is not None) is refused
