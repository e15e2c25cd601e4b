"""Who may write from the browser: the token, a signed session, CSRF tokens, same origin."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

__all__ = [
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "csrf_token",
    "csrf_valid",
    "is_loopback",
    "new_session",
    "same_origin",
    "session_valid",
    "token_matches",
]

SESSION_COOKIE = "gatewatch_session"
SESSION_SECONDS = 12 * 3600


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is only reachable from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def token_matches(token: str, given: str | None) -> bool:
    """Whether ``given`` is the server's token (compared in constant time)."""
    if not given:
        return False
    return hmac.compare_digest(
        hashlib.sha256(token.encode()).digest(),
        hashlib.sha256(given.encode(errors="surrogatepass")).digest(),
    )


def new_session(token: str, now: float | None = None) -> str:
    """A session cookie value: its expiry and an HMAC of it under the token."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"{expires}.{_mac(token, f'session:{expires}')}"


def session_valid(token: str, value: str | None, now: float | None = None) -> bool:
    """Whether a session cookie was made with this token and has not expired."""
    if not value or "." not in value or not value.isascii():  # a cookie any page may set
        return False
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or len(expires) > 12:
        return False
    if not hmac.compare_digest(mac.encode(), _mac(token, f"session:{expires}").encode()):
        return False
    return int(expires) > (time.time() if now is None else now)


def csrf_token(token: str, session: str) -> str:
    """The CSRF token of a session's forms, derived with HMAC from the server token."""
    return _mac(token, f"csrf:{session}")


def csrf_valid(token: str, session: str | None, given: str | None) -> bool:
    """Whether a form's CSRF token belongs to this session."""
    if not session or not given or not given.isascii():
        return False
    return hmac.compare_digest(csrf_token(token, session).encode(), given.encode())


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """Whether a POST came from a page of this server (Origin, else Referer, names its host)."""
    if not host:
        return False
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    return urlsplit(source).netloc.lower() == host.lower()
