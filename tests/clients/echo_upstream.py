"""An upstream that echoes each request's headers as JSON (a server nobody on this project wrote).

usage: echo_upstream.py            prints "port N" once it listens on 127.0.0.1, then serves
Body: {"method", "path", "received": bytes of request body, "headers": {lower-case name: [values]}}.
HTTP/1.1 with keep-alive, one thread per connection.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = len(self.rfile.read(length)) if length else 0
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps(
            {"method": self.command, "path": self.path, "received": received, "headers": headers}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
