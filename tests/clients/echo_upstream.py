"""An upstream that echoes each request's headers as JSON (a server nobody on this project wrote).

usage: echo_upstream.py            prints "port N" once it listens on 127.0.0.1, then serves
Body: {"method", "path", "received": bytes of request body, "headers": {lower-case name: [values]}}.
HTTP/1.1 with keep-alive, one thread per connection.

A request with `Upgrade` is answered 101 (same `Upgrade`), then one line of the same JSON
(what the upgrade request carried), then every byte received is echoed until the client closes.
`GET /_log` answers the JSON list of every path requested before it (upgrades included).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []
SEEN_LOCK = threading.Lock()


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self):
        if self.path == "/_log":
            with SEEN_LOCK:
                body = json.dumps(SEEN).encode()
            return self._send(200, body)
        with SEEN_LOCK:
            SEEN.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        received = len(self.rfile.read(length)) if length else 0
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps(
            {"method": self.command, "path": self.path, "received": received, "headers": headers}
        ).encode()
        upgrade = self.headers.get("Upgrade")
        if upgrade is None:
            return self._send(200, body)
        self.send_response(101)
        self.send_header("Upgrade", upgrade)
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.write(body + b"\n")
        self.wfile.flush()
        while True:
            chunk = self.rfile.read1(65536)
            if not chunk:
                break
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
