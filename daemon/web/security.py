"""Who may write from the browser: the token, a signed session, CSRF tokens, same origin."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "MIN_TOKEN_CHARS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "LoginThrottle",
    "SessionRevocations",
    "csrf_token",
    "csrf_valid",
    "is_loopback",
    "new_session",
    "notice_mac",
    "notice_valid",
    "public_origin",
    "same_origin",
    "session_valid",
    "token_matches",
    "token_problem",
]

SESSION_COOKIE = "gatewatch_session"
SESSION_SECONDS = 12 * 3600
MIN_TOKEN_CHARS = 16  # a write token shorter than this is refused at start
LOGIN_FAILURES = 5  # wrong tokens from one address within LOGIN_WINDOW_SECONDS ...
LOGIN_WINDOW_SECONDS = 60.0  # ... and it waits out the rest of the window (429)


@dataclass
class LoginThrottle:
    """Counts wrong tokens per client address; past the limit, sign-in waits (429).

    ``clock`` is injected (monotonic seconds) so tests need no sleeps. Memory stays
    bounded: an address's entry goes when its window has passed.
    """

    clock: Callable[[], float] = time.monotonic
    limit: int = LOGIN_FAILURES
    window: float = LOGIN_WINDOW_SECONDS
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, address: str, now: float) -> list[float]:
        for key in [k for k, times in self._failures.items() if times[-1] <= now - self.window]:
            del self._failures[key]
        return [t for t in self._failures.get(address, []) if t > now - self.window]

    def wait_seconds(self, address: str) -> float:
        """How long ``address`` must wait before it may try a token again (0: now)."""
        with self._lock:
            now = self.clock()
            recent = self._recent(address, now)
            if len(recent) < self.limit:
                return 0.0
            return max(0.0, recent[-self.limit] + self.window - now)

    def failed(self, address: str) -> None:
        """Note one wrong token from ``address``."""
        with self._lock:
            now = self.clock()
            self._failures[address] = [*self._recent(address, now), now][-self.limit :]


class SessionRevocations:
    """Sessions signed out before they expired: a cookie copied before logout is refused."""

    def __init__(self) -> None:
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def revoke(self, value: str, now: float | None = None) -> None:
        """Refuse this session from now on (entries leave once they would have expired)."""
        moment = time.time() if now is None else now
        with self._lock:
            self._revoked = {v for v in self._revoked if _expiry(v) > moment} | {value}

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._revoked


def _expiry(value: str) -> int:
    expires = value.partition(".")[0]
    return int(expires) if expires.isdigit() and len(expires) <= 12 else 0


def token_problem(token: str, what: str = "the write token") -> str | None:
    """Why a token (the reviewers' write token, or ``what``) is too weak to accept, or
    None."""
    if len(token) < MIN_TOKEN_CHARS:
        return (
            f"{what} is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "(for example: openssl rand -hex 16)"
        )
    return None


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


def notice_mac(token: str, notice: str) -> str:
    """What signs the notice a decision's redirect carries in its URL: a link made
    elsewhere cannot make the review page say "Recorded: ..." for a decision never made."""
    return _mac(token, f"notice:{notice}")


def notice_valid(token: str | None, notice: str | None, mac: str | None) -> bool:
    """Whether a notice in a URL was signed by this server."""
    if token is None or not notice or not mac or not mac.isascii():
        return False
    return hmac.compare_digest(notice_mac(token, notice).encode(), mac.encode())


def csrf_valid(token: str, session: str | None, given: str | None) -> bool:
    """Whether a form's CSRF token belongs to this session."""
    if not session or not given or not given.isascii():
        return False
    return hmac.compare_digest(csrf_token(token, session).encode(), given.encode())


def same_origin(
    origin: str | None, referer: str | None, host: str | None, public: str | None = None
) -> bool:
    """Whether a POST came from a page of this server: Origin, else Referer, names its host,
    or is the ``public`` origin it is reached at behind a reverse proxy ([serve] public_url,
    which may rewrite the Host header)."""
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    parts = urlsplit(source)
    if public is not None and _origin_of(parts) == public:
        return True
    return bool(host) and parts.netloc.lower() == str(host).lower()


_DEFAULT_PORTS = {"http": 80, "https": 443}


_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")


def _origin_of(parts: SplitResult) -> str | None:
    """``scheme://host[:port]`` of a URL as a browser's Origin says it: lower case, a name
    beyond ASCII in its IDNA form, no final dot, the port left out when it is the scheme's
    default; None when the host or the port is none a browser could send."""
    try:
        port = parts.port
        host = (parts.hostname or "").rstrip(".").encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError):
        return None
    if port == 0:
        return None
    if ":" in host:  # an IPv6 address, in brackets
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            return None
    elif not _HOST_NAME.fullmatch(host):
        return None
    shown = "" if port is None or port == _DEFAULT_PORTS.get(parts.scheme) else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


_PUBLIC_URL = (
    "expected the dashboard's address as a browser sees it, e.g. https://dash.example.com "
    "(a host alone: no user, path or query)"
)


def public_origin(url: str) -> str:
    """The origin of [serve] public_url, as a browser's Origin says it (see _origin_of);
    ValueError unless it is an http or https URL of a host, with nothing past it but a
    slash."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(_PUBLIC_URL) from None
    origin = _origin_of(parts)
    extra = parts.username is not None or parts.path not in ("", "/") or parts.query
    if origin is None or parts.scheme not in _DEFAULT_PORTS or extra or parts.fragment:
        raise ValueError(_PUBLIC_URL)  # no host at all: _origin_of says None
    return origin
