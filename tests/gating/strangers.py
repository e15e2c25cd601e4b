"""Servers on loopback that are not gatewatch: a fixed answer (TCP or TLS), an endless one, none."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _read_request(handler: socketserver.StreamRequestHandler) -> None:
    """Read the request's head and body (closing with it unread would reset the
    connection, and the client would see a reset rather than the answer)."""
    length = 0
    while (line := handler.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    handler.rfile.read(length)


@contextmanager
def _serving(
    handle: Callable[[socketserver.StreamRequestHandler], None],
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """A threaded server on loopback answering each connection with ``handle``; yields
    its base URL (https when ``tls`` is given)."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            handle(self)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            return (tls.wrap_socket(sock, server_side=True) if tls else sock), address

    with Server(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(timeout=10)


@contextmanager
def answering(answer: bytes, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A server on loopback that reads each request, writes ``answer`` and hangs up;
    yields its base URL (https when ``tls`` is given)."""

    def handle(handler: socketserver.StreamRequestHandler) -> None:
        _read_request(handler)
        handler.wfile.write(answer)

    with _serving(handle, tls) as url:
        yield url


@contextmanager
def streaming(head: bytes, piece: bytes, every: float = 0.0) -> Iterator[str]:
    """A server on loopback that reads each request, writes ``head``, then ``piece`` every
    ``every`` seconds without end (until the client hangs up); yields its base URL."""
    stop = threading.Event()

    def handle(handler: socketserver.StreamRequestHandler) -> None:
        _read_request(handler)
        try:
            handler.wfile.write(head)
            while not stop.wait(every):
                handler.wfile.write(piece)
        except OSError:
            return

    with _serving(handle) as url:
        try:
            yield url
        finally:
            stop.set()  # before the server shuts down: no handler writes on for ever


@contextmanager
def hung(connections: list[socket.socket], *, hang_up: bool = False) -> Iterator[str]:
    """A server on loopback that reads each request (its connection kept in
    ``connections``) and never answers, or (``hang_up``) closes it at once; yields its
    base URL."""
    stop = threading.Event()

    def handle(handler: socketserver.StreamRequestHandler) -> None:
        _read_request(handler)
        connections.append(handler.connection)
        if not hang_up:
            stop.wait()

    with _serving(handle) as url:
        try:
            yield url
        finally:
            stop.set()  # before the server shuts down: no handler waits on for ever


def certificate(folder: Path, days: tuple[int, int]) -> ssl.SSLContext:
    """A server context for 127.0.0.1 with a self-signed certificate valid from ``days[0]``
    to ``days[1]`` days from now; the certificate is written to ``folder/cert.pem`` (point
    SSL_CERT_FILE at it to trust it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatewatch-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
