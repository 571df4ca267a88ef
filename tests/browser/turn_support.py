"""A real coturn (``turnserver``, Debian's package ``coturn``) for a test, with TLS.

It listens on one address (the host end of a :class:`tests.netshape.ShapedLink`):
plain TURN over UDP and TCP on one port, TURN over TLS on 443 when that port is
free there, else on a free port above 1024. Credentials are coturn's
``use-auth-secret`` ones, the kind Bimbing hands out (server/signaling/ice.py).

The certificate is self-signed, made here with ``cryptography`` for the
listening address. Chromium checks a TURN server's certificate as it checks a
web page's, and refuses a self-signed one: the allocation fails with
``icecandidateerror`` 701 ("Failed to establish connection") and no relay
candidate comes. Chromium accepts it when told to trust that one key,
``--ignore-certificate-errors-spki-list=<base64 SHA-256 of the key>``
(:attr:`TurnServer.chromium_args`); ``--ignore-certificate-errors`` works too
but trusts everything. Measured with Chromium 156 and coturn 4.6.1.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TURNSERVER = "/usr/bin/turnserver"
STARTUP_TIMEOUT = 20.0


def require_turnserver() -> str:
    from tests.services import unavailable

    found = TURNSERVER if Path(TURNSERVER).exists() else shutil.which("turnserver")
    if not found:
        unavailable("coturn", "turnserver not found (apt-get install -y coturn)")
    return found


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def self_signed(host: str, directory: Path) -> tuple[Path, Path, str]:
    """A certificate for ``host`` (an IP address) and its key; returns their paths
    and the base64 SHA-256 of the public key, as Chromium's SPKI list wants it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"turn {host}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "turn-cert.pem", directory / "turn-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode()


@dataclass
class TurnServer:
    host: str
    root: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    port: int = 0
    tls_port: int = 0
    spki: str = ""
    proc: subprocess.Popen | None = None

    def start(self, binary: str = TURNSERVER, attempts: int = 3) -> "TurnServer":
        """turnserver cannot bind port 0 and say which port it got (tests/README.md,
        "Servers on port 0"): the ports are chosen just before, and a start whose
        port another process took meanwhile is tried again on others. The listener
        counts as ours only once a TLS handshake shows our own certificate."""
        self.root.mkdir(parents=True, exist_ok=True)
        cert, key, self.spki = self_signed(self.host, self.root)
        for attempt in range(attempts):
            self.tls_port = 443 if attempt == 0 and _bindable(self.host, 443) else _free_port(self.host)
            self.port = _free_port(self.host)
            try:
                return self._start(binary, cert, key)
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    def _start(self, binary: str, cert: Path, key: Path) -> "TurnServer":
        self.log = self.root / "turnserver.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([
                binary, "-n", "--log-file=stdout", "--simple-log", "--no-cli", "--fingerprint",
                f"--listening-ip={self.host}", f"--relay-ip={self.host}",
                f"--listening-port={self.port}", f"--tls-listening-port={self.tls_port}",
                "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm=bimbing.test",
                f"--cert={cert}", f"--pkey={key}", "--no-dtls",
                f"--userdb={self.root / 'turndb'}", f"--pidfile={self.root / 'turnserver.pid'}",
            ], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        tls = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.tls_port), timeout=1) as raw, tls.wrap_socket(raw, server_hostname=self.host):
                    break
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"turnserver did not answer TLS within {STARTUP_TIMEOUT} s: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        return self

    @property
    def urls(self) -> list[str]:
        """What BIMBING_TURN_URLS would hold (docs/deploy.md): UDP and TCP, and TLS."""
        return [f"turn:{self.host}:{self.port}?transport=udp", f"turn:{self.host}:{self.port}?transport=tcp",
                f"turns:{self.host}:{self.tls_port}?transport=tcp"]

    @property
    def chromium_args(self) -> list[str]:
        return [f"--ignore-certificate-errors-spki-list={self.spki}"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
