"""HTTPS in front of a plain test server, and a CONNECT proxy, both on 127.0.0.1, for what
t4 itself speaks over TLS (the listing): a CA made for the test, a certificate it signed for
127.0.0.1, a forwarder that ends TLS and passes the bytes on, and a proxy that tunnels."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 that it signed: (ca.pem, cert.pem,
    key.pem) in ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t4flows test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side ends."""

    def one_way(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    back = threading.Thread(target=one_way, args=(b, a), daemon=True)
    back.start()
    one_way(a, b)
    back.join(timeout=10)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def _serving(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    """``handler`` serving each connection to 127.0.0.1 in a thread; yields the port."""
    with _Server(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()


class Tunnels:
    """What a server saw: ``connections`` accepted, ``requests`` (first lines of CONNECT),
    ``auth`` (their Proxy-Authorization values)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[str] = []
        self.auth: list[str | None] = []
        self.open: list[socket.socket] = []

    def close_all(self) -> None:
        """End every connection, as a server drops idle ones."""
        for sock in self.open:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def tls_in_front(target: tuple[str, int], cert: Path, key: Path) -> Iterator[tuple[str, Tunnels]]:
    """``https://127.0.0.1:PORT``, its TLS ended here and its bytes passed to ``target``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    seen = Tunnels()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            seen.connections += 1
            try:
                tls = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a client that did not trust the certificate
            seen.open.append(tls)
            with socket.create_connection(target) as upstream, tls:
                _pump(tls, upstream)

    with _serving(Handler) as port:
        yield f"https://127.0.0.1:{port}", seen


@contextmanager
def connect_proxy() -> Iterator[tuple[str, Tunnels]]:
    """An HTTP proxy that only tunnels (``CONNECT host:port``), at ``http://127.0.0.1:PORT``."""
    seen = Tunnels()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            seen.connections += 1
            line = self.rfile.readline().decode("latin-1").strip()
            auth = None
            while (header := self.rfile.readline().decode("latin-1").strip()) != "":
                name, _, value = header.partition(":")
                if name.lower() == "proxy-authorization":
                    auth = value.strip()
            seen.requests.append(line)
            seen.auth.append(auth)
            method, where, _ = line.split(" ", 2)
            if method != "CONNECT":
                self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = where.rpartition(":")
            with socket.create_connection((host, int(port))) as upstream:
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pump(self.connection, upstream)

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}", seen
