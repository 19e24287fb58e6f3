"""Shared plumbing for the external suites (scripts/external-suites): `epa serve` started on
127.0.0.1 with a throwaway certificate and user file, a raw recording upstream, and a raw NTLM
client over TLS (pyspnego, nobody here wrote it). Every wait has a deadline."""
import os
import select
import socket
import ssl
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOMAIN, USER, PASSWORD = "TESTDOM", "alice", "userpw"


def epa_bin():
    """The binary under test: $EPA_BIN, else what `cargo build --bin epa` leaves in target/debug."""
    return os.environ.get("EPA_BIN") or os.path.join(ROOT, "target", "debug", "epa")


def workdir():
    d = tempfile.mkdtemp(prefix="epa-suites-")
    return d


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30)
    return cert, key


class Epa:
    """`epa serve --config FILE --users FILE --domain TESTDOM`; `.port`, `.log()` (stderr so far)."""

    def __init__(self, body_toml, listener_extra="", env=None):
        self.dir = workdir()
        cert, key = make_cert(self.dir)
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write(f"{DOMAIN}:{USER}:{PASSWORD}\n{DOMAIN}:bob:bobpw\n")
        conf = os.path.join(self.dir, "epa.toml")
        with open(conf, "w") as f:
            f.write(f'[listener]\naddress = "127.0.0.1:0"\ncertificate_file = "{cert}"\n'
                    f'key_file = "{key}"\n{listener_extra}\n{body_toml}\n')
        self.errpath = os.path.join(self.dir, "stderr.log")
        self.err = open(self.errpath, "wb")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [epa_bin(), "serve", "--config", conf, "--users", users, "--domain", DOMAIN],
            stdout=subprocess.PIPE, stderr=self.err, env=e)
        self.port = None
        deadline = time.time() + 20
        buf = b""
        while time.time() < deadline and self.port is None:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.split(b"\n"):
                    if b"listening on " in line:
                        self.port = int(line.rsplit(b":", 1)[1])
        if self.port is None:
            self.stop()
            raise RuntimeError(f"epa serve did not start: {self.log()[-2000:]}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 4096):
                pass
        except OSError:
            pass

    def log(self):
        self.err.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def tls_connect(port, timeout=5.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_response(sock, deadline_s=5.0):
    """One response head + Content-Length body (enough for epa's own answers); (status, head
    bytes, body bytes) or (None, b'', b'') on close/timeout."""
    buf = b""
    end = time.time() + deadline_s
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError, ssl.SSLError):
            return None, buf, b""
        if not chunk:
            return None, buf, b""
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip() or 0)
    while len(rest) < length and time.time() < end:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError, ssl.SSLError):
            break
        if not chunk:
            break
        rest += chunk
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = None
    return status, head, rest[:length]


def ntlm_login(sock, path="/", host="localhost"):
    """A full NTLM exchange (pyspnego, no channel binding) on `sock`; the final status."""
    import base64
    import spnego
    ctx = spnego.client(f"{DOMAIN}\\{USER}", PASSWORD, hostname=host, service="HTTP",
                        protocol="ntlm")
    tok = ctx.step()
    status = None
    for _ in range(3):
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: NTLM "
                     f"{base64.b64encode(tok).decode()}\r\n\r\n".encode())
        status, head, _ = read_response(sock)
        if status != 401:
            return status
        chal = None
        for line in head.split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"www-authenticate" and v.strip().startswith(b"NTLM "):
                chal = base64.b64decode(v.strip()[5:])
        if chal is None:
            return status
        tok = ctx.step(chal)
    return status


class RecordingUpstream:
    """A raw TCP upstream: records every byte it receives (per connection, timestamped) and
    answers `200 ok` after each 60 ms quiet gap. Parses nothing: what it recorded is judged
    afterwards by several origins' parsers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.chunks = []  # (time, conn id, bytes)
        self.conns = 0
        self.closed = set()  # conn ids the proxy closed
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                cid = self.conns
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        pending = False
        c.settimeout(0.06)
        while True:
            try:
                data = c.recv(65536)
            except socket.timeout:
                if pending:
                    try:
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    except OSError:
                        return
                    pending = False
                continue
            except OSError:
                with self.lock:
                    self.closed.add(cid)
                return
            if not data:
                with self.lock:
                    self.closed.add(cid)
                c.close()
                return
            with self.lock:
                self.chunks.append((time.time(), cid, data))
            pending = True

    def take(self):
        """Everything received since the last take, as {conn id: bytes}."""
        with self.lock:
            chunks, self.chunks = self.chunks, []
        out = {}
        for _, cid, data in chunks:
            out[cid] = out.get(cid, b"") + data
        return out
