"""How several origins nobody here wrote frame one byte stream of HTTP/1.1 requests.

Each parser returns {"requests": [[method, target, body], ...], "error": str or None}:
the requests it would hand to an application, in order, and why it stopped (None: the stream
ended cleanly). Parsers: h11 (Hypercorn's), gunicorn's RequestParser, waitress's
HTTPRequestParser, and Node's llhttp (node_origin.js, one long-lived `node` process)."""
import base64
import io
import json
import os
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def _b(x):
    return x.decode("latin-1") if isinstance(x, (bytes, bytearray)) else str(x)


def h11_frame(data):
    import h11
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    out, cur, body = [], None, b""
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                return {"requests": out, "error": "incomplete" if cur or data else None}
            if ev is h11.PAUSED:
                conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            if isinstance(ev, h11.Request):
                cur, body = [_b(ev.method), _b(ev.target)], b""
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                out.append(cur + [_b(body)])
                cur = None
            elif isinstance(ev, h11.ConnectionClosed):
                return {"requests": out, "error": "incomplete" if cur else None}
    except h11.RemoteProtocolError as e:
        return {"requests": out, "error": f"h11: {e}"}


def gunicorn_frame(data):
    from gunicorn.config import Config
    from gunicorn.http.parser import RequestParser
    out = []
    try:
        parser = RequestParser(Config(), iter([data]), ("127.0.0.1", 1))
        for req in parser:
            body = req.body.read()
            out.append([_b(req.method), _b(req.uri), _b(body)])
    except StopIteration:
        pass
    except Exception as e:  # gunicorn's parse errors share no base class worth naming
        return {"requests": out, "error": f"gunicorn: {type(e).__name__}: {e}"}
    return {"requests": out, "error": None}


def waitress_frame(data):
    from waitress.adjustments import Adjustments
    from waitress.parser import HTTPRequestParser
    adj = Adjustments()
    out = []
    rest = data
    while rest:
        p = HTTPRequestParser(adj)
        n = p.received(rest)
        while not p.completed and n < len(rest) and n > 0:
            more = p.received(rest[n:])
            if more == 0:
                break
            n += more
        if p.error is not None:
            return {"requests": out, "error": f"waitress: {type(p.error).__name__}: {p.error.body}"}
        if not p.completed:
            return {"requests": out, "error": "incomplete"}
        if not p.empty:
            stream = p.get_body_stream()
            body = stream.read() if stream is not None else b""
            out.append([_b(p.command), _b(p.path + ("?" + p.query if p.query else "")), _b(body)])
        rest = rest[n:]
        if p.empty and n == 0:
            break
    return {"requests": out, "error": None}


class _Node:
    """One `node node_origin.js` for the whole run: base64 in, JSON out, a line each."""
    lock = threading.Lock()
    proc = None

    @classmethod
    def frame(cls, data):
        with cls.lock:
            if cls.proc is None or cls.proc.poll() is not None:
                cls.proc = subprocess.Popen(["node", os.path.join(HERE, "node_origin.js")],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            cls.proc.stdin.write(base64.b64encode(data) + b"\n")
            cls.proc.stdin.flush()
            line = cls.proc.stdout.readline()
            if not line:
                return {"requests": [], "error": "node: died"}
            return json.loads(line)


def node_frame(data):
    return _Node.frame(data)


ORIGINS = {"h11": h11_frame, "gunicorn": gunicorn_frame, "waitress": waitress_frame,
           "node": node_frame}


def frame_all(data):
    return {name: f(data) for name, f in ORIGINS.items()}


def framing(result):
    """What framing means here: method and body of each request (targets are rewritten by a
    proxy on purpose, headers too)."""
    return [(r[0], r[2]) for r in result["requests"]]
