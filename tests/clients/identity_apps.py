"""Applications that show what the upstream of `epa serve` received, the way the application
reads it (servers nobody on this project wrote run them: wsgiref, gunicorn, Hypercorn).

* `wsgi_app` (WSGI, PEP 3333): JSON {"path", "method", "environ": every HTTP_* variable, as
  the server built it (so `X_Remote_User` and `X-Remote-User` meet in HTTP_X_REMOTE_USER),
  "user_decoded": HTTP_X_REMOTE_USER percent-decoded (urllib.parse.unquote)}.
* `asgi_app` (ASGI 3, for Hypercorn): http → JSON {"path", "method", "http_version",
  "headers": [[name, value], ...] (latin-1)}; `GET /_log` → the list of every path seen
  before; websocket → accept, then echo every message.

usage: identity_apps.py wsgiref PORT    serves wsgi_app with wsgiref on 127.0.0.1:PORT
(gunicorn and Hypercorn import the module: `identity_apps:wsgi_app`, `identity_apps:asgi_app`).
"""
import json
import sys
from urllib.parse import unquote

SEEN = []


def wsgi_app(environ, start_response):
    env = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    user = environ.get("HTTP_X_REMOTE_USER")
    body = json.dumps(
        {
            "path": environ.get("PATH_INFO"),
            "method": environ.get("REQUEST_METHOD"),
            "environ": env,
            # PEP 3333: header values are latin-1 str; percent-encoding keeps them ASCII.
            "user_decoded": unquote(user) if user is not None else None,
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        SEEN.append(scope["path"])
        event = await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text") is not None:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})
    if scope["path"] == "/_log":
        body = json.dumps(SEEN).encode()
    else:
        SEEN.append(scope["path"])
        while True:
            event = await receive()
            if not event.get("more_body"):
                break
        body = json.dumps(
            {
                "path": scope["path"],
                "method": scope["method"],
                "http_version": scope["http_version"],
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            }
        ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    if sys.argv[1:2] == ["wsgiref"]:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        server = make_server("127.0.0.1", int(sys.argv[2]), wsgi_app, handler_class=Quiet)
        print(f"port {server.server_port}", flush=True)
        server.serve_forever()
    else:
        sys.exit(__doc__)
