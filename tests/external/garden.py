"""HTTP Garden payloads through `epa serve` to a raw recording upstream.

usage: garden.py [--quick] [--json FILE]
For each payload (as written, and with `Host: localhost` added when its first head has none),
on an anonymous route and on an authenticated route (NTLM login first, then the payload on the
same connection), this checks:
  upstream-desync   what the upstream received is framed the same by every origin (h11,
                    gunicorn, waitress, Node's llhttp), and every origin accepts it;
  forwarded-ambiguous  when two origins that accept the client's bytes frame request i
                    differently, epa forwards fewer than i+1 requests (it answers 400 or closes);
  reframed          each forwarded request (method, body) is how at least one origin that
                    accepted the client's bytes framed it.
  identity-spelling / h2c-forwarded  (on every upstream stream) no `_` spelling of an identity
                    header and no h2c upgrade reaches the upstream (issue #20 items 2 and 1).
Reported, not failed (NOTE lines): `forwarded-invalid` (epa forwarded a request no origin frames
from the client's bytes) and `disputed` (some origins refuse the client's request, epa forwarded
it), with whether epa then closed the connection.
Exit 1 on any failure; prints one line per failure and a closing `garden: N passed, N failed`."""
import argparse
import json
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import garden_corpus  # noqa: E402
import origins  # noqa: E402


# Mutations of our own on the corpus's plainest request, from the garden's quirks.yml
# (`header-name-translation: {'-': '_'}`: origins that read `_` and `-` as one) and from issue #20
# item 1 (an upgrade to h2c through the proxy).
MUTATIONS = [
    ("mutation:underscore-identity",
     b"X_Remote_User: TESTDOM\\admin\r\nX_Remote_Groups: S-1-5-32-544\r\n"
     b"X_Remote_User_Sid: S-1-5-21-1-2-3-500\r\nX_Forwarded_For: 10.9.9.9\r\nX_Real_IP: 10.9.9.9\r\n"),
    ("mutation:h2c-upgrade",
     b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
]
# Headers epa sets or strips (README "identity headers"); a client's header that a WSGI/CGI origin
# reads under one of these names is a forged identity.
RESERVED = {"x-remote-user", "x-remote-groups", "x-remote-user-sid", "x-remote-domain",
            "x-auth-mechanism", "x-epa-service-name", "x-forwarded-for", "x-real-ip",
            "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-original-url"}


def header_checks(data):
    """Failed header checks of one upstream stream: a header named with `_` that a WSGI origin
    (wsgiref, gunicorn header_map=dangerous, Rack, PHP: `HTTP_` + upper, `-` -> `_`) reads as a
    reserved one, and an h2c upgrade (Upgrade: h2c or HTTP2-Settings) forwarded."""
    import h11
    fails = []
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA or isinstance(ev, h11.ConnectionClosed):
                break
            if ev is h11.PAUSED:
                conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            if isinstance(ev, h11.Request):
                for name, value in ev.headers:
                    n = name.decode("latin-1").lower()
                    if "_" in n and n.replace("_", "-") in RESERVED:
                        fails.append(f"identity-spelling: {n}: {value.decode('latin-1')!r} reached the "
                                     f"upstream (WSGI reads it as HTTP_{n.upper().replace('-', '_')})")
                    if n == "http2-settings" or (n == "upgrade" and b"h2c" in value.lower()):
                        fails.append(f"h2c-forwarded: {n}: {value.decode('latin-1')!r} reached the upstream")
    except h11.RemoteProtocolError:
        pass
    return fails


def has_host(p):
    head = p.split(b"\r\n\r\n", 1)[0]
    return any(re.match(rb"(?i)host\s*:", line) for line in re.split(rb"\r?\n", head)[1:])


def with_host(p):
    m = re.match(rb"([^\n]*\n)", p)
    return p if m is None else m.group(1) + b"Host: localhost\r\n" + p[m.end():]


def exchange(port, payload, login, up):
    """Send `payload` (after an NTLM login when `login`, whose own request the upstream's record
    drops); the statuses epa answered and whether it closed the connection."""
    s = common.tls_connect(port)
    if login:
        st = common.ntlm_login(s)
        if st != 200:
            s.close()
            raise RuntimeError(f"NTLM login answered {st}")
        quiet(up)
    buf, closed = b"", False
    try:
        s.sendall(payload)
        end, last = time.time() + 6, time.time()
        while time.time() < end and time.time() - last < 0.6:
            s.settimeout(0.1)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                closed = True
                break
            buf += chunk
            last = time.time()
    except (OSError, ssl.SSLError):
        closed = True
    s.close()
    return [int(x) for x in re.findall(rb"HTTP/1\.[01] (\d{3}) ", buf)], closed


def quiet(up):
    time.sleep(0.25)
    got = up.take()
    while True:
        time.sleep(0.15)
        more = up.take()
        if not more:
            return got
        for k, v in more.items():
            got[k] = got.get(k, b"") + v


def incomplete(err):
    return err is not None and any(
        s in err for s in ("incomplete", "without sending complete", "NoMoreData"))


def judge(client, streams, closed):
    """(failed checks, notes, forwarded requests) for one payload. `closed`: the upstream
    connections epa closed."""
    fails, notes = [], []
    forwarded = []
    # A client that stopped mid-body leaves a partial request upstream (epa streams bodies):
    # then only the complete requests are compared.
    client_cut = any(incomplete(r["error"]) for r in client.values())
    for cid, data in sorted(streams.items()):
        parsed = origins.frame_all(data)
        frames = {n: origins.framing(r) for n, r in parsed.items()}
        errs = {n: r["error"] for n, r in parsed.items() if r["error"]}
        # A partial last request on a connection epa then closed cannot frame anything after it.
        if (client_cut or cid in closed) and all(incomplete(e) for e in errs.values()):
            n = min(len(f) for f in frames.values())
            frames = {k: f[:n] for k, f in frames.items()}
            errs = {}
        fails += header_checks(data)
        if errs or len(set(map(repr, frames.values()))) > 1:
            fails.append(f"upstream-desync conn {cid}: {json.dumps(parsed)[:600]} bytes={data[:300]!r}")
        forwarded += frames["h11"] if "h11" not in errs else max(frames.values(), key=len)
    accepted = {n: origins.framing(r) for n, r in client.items()}
    ambiguous_at = None
    for i in range(max([len(f) for f in accepted.values()] + [0])):
        seen = {tuple(f[i]) for f in accepted.values() if len(f) > i}
        if len(seen) > 1:
            ambiguous_at = i
            break
    if ambiguous_at is not None and len(forwarded) > ambiguous_at:
        fails.append(f"forwarded-ambiguous: origins differ at request {ambiguous_at}, epa forwarded "
                     f"{len(forwarded)}: {forwarded!r:.300}")
    for i in range(len(forwarded)):
        took = sorted(n for n, f in accepted.items() if len(f) > i)
        if took and len(took) < len(accepted):
            # Origins disagree on whether request i exists at all (some refuse the client's
            # bytes): epa forwarded it. Reported: no origin behind epa sees the disputed bytes.
            notes.append(f"disputed: request {i} accepted by {took}, refused by "
                         f"{sorted(set(accepted) - set(took))}; epa forwarded it")
    for i, req in enumerate(forwarded):
        options = {tuple(f[i]) for f in accepted.values() if len(f) > i}
        if not options:
            # No origin frames request i at all (invalid or incomplete from the client): epa
            # forwarded what it read of it. Not a desync by itself; reported.
            notes.append(f"forwarded-invalid: request {i} forwarded as {tuple(req)!r:.120}; "
                         "no origin accepts the client's bytes for it")
        elif tuple(req) not in options:
            fails.append(f"reframed: request {i} forwarded as {tuple(req)!r:.200}, origins framed it "
                         f"{sorted(options)!r:.300}")
    return fails, notes, forwarded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    payloads, src = garden_corpus.load(common.ROOT)
    if not payloads:
        print("http-garden: no corpus found (set HTTP_GARDEN_DIR to a checkout or git directory "
              f"of github.com/narfindustries/http-garden, commit {garden_corpus.PINNED_COMMIT})")
        print("garden: 0 passed, 0 failed, 1 skipped")
        return 0
    print(f"http-garden corpus: {len(payloads)} payloads from {src}")
    cases = []
    for pid, p in payloads:
        cases.append((pid, p))
        if not has_host(p):
            cases.append((pid + "+host", with_host(p)))
    if a.quick:
        cases = cases[::4]
    # The corpus's plainest request (README.md: `GET / HTTP/1.1\r\nHOST: a\r\n\r\n`).
    plain = next((p for _, p in payloads
                  if re.fullmatch(rb"GET / HTTP/1\.1\r\nHost: [a-z]+\r\n\r\n", p, re.I)),
                 b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    for mid, headers in MUTATIONS:
        cases.append((mid, plain.replace(b"\r\n", b"\r\n" + headers, 1)))
    up = common.RecordingUpstream()
    anon = common.Epa(f'[policy]\nenforcement = "never"\n[upstream]\nurl = "http://127.0.0.1:{up.port}"\n'
                      '[[route]]\npath = "/"\nanonymous = true\n')
    auth = common.Epa(f'[policy]\nenforcement = "never"\n[upstream]\nurl = "http://127.0.0.1:{up.port}"\n')
    results, passed, failed = [], 0, 0
    try:
        for pid, p in cases:
            client = origins.frame_all(p)
            for mode, epa in (("anonymous", anon), ("authenticated", auth)):
                if (a.quick and mode == "authenticated" and len(results) % 4
                        and not pid.startswith("mutation:")):
                    continue
                quiet(up)
                try:
                    statuses, closed = exchange(epa.port, p, mode == "authenticated", up)
                except RuntimeError as e:
                    statuses, closed = [], True
                    fails = [f"login: {e}"]
                    streams, notes = {}, []
                else:
                    streams = quiet(up)
                    with up.lock:
                        upstream_closed = set(up.closed)
                    fails, notes, _ = judge(client, streams, upstream_closed)
                results.append({"payload": pid, "route": mode, "statuses": statuses, "closed": closed,
                                "forwarded": sum(len(v) > 0 for v in streams.values()),
                                "upstream_bytes": {k: v.decode("latin-1") for k, v in streams.items()},
                                "fails": fails, "notes": notes})
                for n in notes:
                    print(f"NOTE {pid} [{mode}] {n}{'' if not closed else ' (then closed the connection)'}")
                if fails:
                    failed += 1
                    for f in fails:
                        print(f"FAIL {pid} [{mode}] {f}")
                else:
                    passed += 1
    finally:
        anon.stop()
        auth.stop()
    fwd = sum(1 for r in results if r["forwarded"])
    from collections import Counter
    first = Counter(str(r["statuses"][0]) if r["statuses"] else "closed, no answer" for r in results)
    print("epa's first answer: " + ", ".join(f"{k}: {v}" for k, v in sorted(first.items())))
    print(f"sends with notes (forwarded what some or every origin refuses): "
          f"{sum(1 for r in results if r['notes'])}")
    print(f"http-garden: {len(results)} sends, {fwd} reached the upstream, "
          f"{len(results) - fwd} refused or closed by epa")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"garden: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
