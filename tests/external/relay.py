"""impacket's ntlmrelayx relaying real clients from plain HTTP to `epa serve` over HTTPS.

usage: relay.py [--quick] [--json FILE]
For each enforcement (never, when-supported, always) and each victim (requests-ntlm, curl
--ntlm, headless Chromium with the credentials in the URL), a fresh `epa serve` (HTTPS, service
name HTTP/localhost) and a fresh ntlmrelayx (`-t https://127.0.0.1:PORT/ --no-multirelay`, HTTP
server on 127.0.0.1 only, every other server off): the victim authenticates to ntlmrelayx over
plain HTTP, ntlmrelayx relays the three legs to epa. Over plain HTTP there is no TLS channel to
bind, so what the victim's AUTHENTICATE carries decides (docs/windows-semantics.md §4.5 and
the .NET 8+ decision table of §4.6):
  binding Z (all-zero MsvAvChannelBindings: requests-ntlm/pyspnego, Chromium)
      never -> accepted (row 1, ep-disabled); when-supported and always -> 401 (row 3,
      binding-unbound)
  binding A (no MsvAvChannelBindings: curl)
      never -> accepted (row 1); when-supported -> accepted (row 5, binding-absent-allowed: a
      legacy client without bindings, as IIS tokenChecking=Allow serves it); always -> 401
      (row 4, binding-absent)
The victim's binding state is read from its own AUTHENTICATE (captured by a plain-HTTP NTLM
server of ours before the relay runs), so a client that changes what it sends changes the row
it is judged by, not the verdict. Checks: ntlmrelayx's own verdict (SUCCEED / FAILED), and
epa's decision log (the reason code of the relayed login).
Closing line: `relay: N passed, N failed`."""
import argparse
import base64
import http.server
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PY = sys.executable
BIN = os.path.dirname(PY)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def victim(name, port):
    """Run one victim against http://127.0.0.1:port/ (20 s deadline); its exit/outcome text."""
    url = f"http://127.0.0.1:{port}/"
    if name == "requests-ntlm":
        code = ("import requests,sys\nfrom requests_ntlm import HttpNtlmAuth\n"
                f"r=requests.get({url!r},auth=HttpNtlmAuth('TESTDOM\\\\alice','userpw'),timeout=15)\n"
                "print(r.status_code)")
        cmd = [PY, "-c", code]
    elif name == "curl":
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "15", "--ntlm",
               "-u", "TESTDOM\\alice:userpw", url]
    else:
        d = tempfile.mkdtemp(prefix="epa-chromium-")
        cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={d}", "--auth-server-allowlist=127.0.0.1",
               "--timeout=15000", "--dump-dom",
               f"http://TESTDOM%5Calice:userpw@127.0.0.1:{port}/"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        return r.stdout.decode("utf-8", "replace")[-200:]
    except subprocess.TimeoutExpired:
        return "timeout"


# ---- what the victim sends: a plain-HTTP NTLM server that records the AUTHENTICATE ---------

CHALLENGE = None


def _challenge():
    """A CHALLENGE with target info (domain, computer, timestamp) so NTLMv2 clients answer."""
    def av(t, v):
        return struct.pack("<HH", t, len(v)) + v
    info = (av(2, "TESTDOM".encode("utf-16-le")) + av(1, "RELAY".encode("utf-16-le"))
            + av(7, struct.pack("<Q", int((time.time() + 11644473600) * 10**7))) + av(0, b""))
    name = "TESTDOM".encode("utf-16-le")
    flags = 0xE2898215
    head_len = 56
    return (b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", len(name), len(name), head_len)
            + struct.pack("<I", flags) + os.urandom(8) + b"\x00" * 8
            + struct.pack("<HHI", len(info), len(info), head_len + len(name))
            + b"\x06\x01\xb1\x1d\x00\x00\x00\x0f" + name + info)


def binding_state(auth):
    """Z, A or M from an NTLMv2 AUTHENTICATE's MsvAvChannelBindings; and MsvAvTargetName."""
    nt_len, _, nt_off = struct.unpack("<HHI", auth[20:28])
    nt = auth[nt_off:nt_off + nt_len]
    if len(nt) <= 24:
        return "A", None  # NTLMv1: no AV pairs
    pairs = nt[16 + 28:]
    state, target = "A", None
    i = 0
    while i + 4 <= len(pairs):
        t, n = struct.unpack("<HH", pairs[i:i + 4])
        v = pairs[i + 4:i + 4 + n]
        if t == 0:
            break
        if t == 0x0A:
            state = "Z" if v == b"\x00" * 16 else "M"
        if t == 0x09:
            target = v.decode("utf-16-le", "replace")
        i += 4 + n
    return state, target


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):
        h = self.headers.get("Authorization", "")
        m = re.match(r"(NTLM|Negotiate) (\S+)", h)
        msg = base64.b64decode(m.group(2)) if m else b""
        if msg[8:12] == b"\x01\x00\x00\x00":
            tok = base64.b64encode(_challenge()).decode()
            self._send(401, [("WWW-Authenticate", f"NTLM {tok}")])
        elif msg[8:12] == b"\x03\x00\x00\x00":
            Capture.seen.append(binding_state(msg))
            self._send(200, [])
        else:
            self._send(401, [("WWW-Authenticate", "NTLM")])

    def _send(self, code, headers):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def what_victim_sends(name):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    Capture.seen = []
    victim(name, s.server_address[1])
    s.shutdown()
    return Capture.seen[-1] if Capture.seen else (None, None)


EXPECT = {  # (enforcement, binding state) -> (accepted, epa reason code, table row)
    ("never", "Z"): (True, "ep-disabled", "decision table row 1"),
    ("never", "A"): (True, "ep-disabled", "decision table row 1"),
    ("when-supported", "Z"): (False, "binding-unbound", "row 3 (§4.5 Z: all-zero binding refused)"),
    ("when-supported", "A"): (True, "binding-absent-allowed", "row 5 (legacy client, no binding)"),
    ("always", "Z"): (False, "binding-unbound", "row 3"),
    ("always", "A"): (False, "binding-absent", "row 4"),
}


def one(enforcement, name, state, workdir):
    epa = common.Epa(f'[policy]\nenforcement = "{enforcement}"\nprefixes = ["https://localhost/"]\n')
    rport = free_port()
    out = os.path.join(workdir, f"ntlmrelayx-{enforcement}-{name}.log")
    with open(out, "wb") as f:
        relay = subprocess.Popen(
            [PY, os.path.join(BIN, "ntlmrelayx.py"), "-t", f"https://127.0.0.1:{epa.port}/",
             "--no-multirelay", "-ip", "127.0.0.1", "--http-port", str(rport), "--no-smb-server",
             "--no-wcf-server", "--no-raw-server", "--no-rpc-server", "--no-winrm-server",
             "--no-mssql-server", "--no-rdp-server", "-l", os.path.join(workdir, "loot"),
             "--no-dump", "--no-da", "--no-acl", "--no-validate-privs"],
            # ntlmrelayx serves until its standard input ends: keep a pipe open.
            stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT, cwd=workdir,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            deadline = time.time() + 30
            while time.time() < deadline and b"waiting for connections" not in open(out, "rb").read():
                time.sleep(0.2)
            victim_out = victim(name, rport)
            deadline = time.time() + 10
            while time.time() < deadline and not re.search(rb"SUCCEED|FAILED", open(out, "rb").read()):
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            relay.terminate()
            try:
                relay.wait(10)
            except subprocess.TimeoutExpired:
                relay.kill()
            epa.stop()
    text = open(out, encoding="utf-8", errors="replace").read()
    verdict = ("SUCCEED" if re.search(r"SUCCEED", text)
               else "FAILED" if re.search(r"FAILED|ACCESS_DENIED", text) else "no relay")
    # ntlmrelayx's default HTTP attack reads / on the relayed connection and prints it.
    read_as_user = bool(re.search(r"DEFAULT CASE\s*\n200 ", text))
    log = epa.log()
    reasons = re.findall(r'reason="?([a-z0-9-]+)', log)
    accepted, reason, row = EXPECT[(enforcement, state)]
    fails = []
    if verdict != ("SUCCEED" if accepted else "FAILED"):
        fails.append(f"ntlmrelayx says {verdict}; expected {'SUCCEED' if accepted else 'FAILED'} ({row})")
    if read_as_user != accepted:
        fails.append(f"the attacker {'read' if read_as_user else 'did not read'} a page as the victim")
    if reason not in reasons:
        fails.append(f"epa's log has reasons {sorted(set(reasons))}; expected {reason} ({row})")
    return {"enforcement": enforcement, "victim": name, "binding": state, "row": row,
            "relay": verdict, "attacker_read_page_as_victim": read_as_user, "epa_reasons": sorted(set(reasons)), "victim_output": victim_out,
            "fails": fails}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="epa-relay-")
    victims = ["requests-ntlm", "curl"] + ([] if a.quick or not shutil.which("chromium")
                                           else ["chromium"])
    results, passed, failed = [], 0, 0
    for name in victims:
        state, target = what_victim_sends(name)
        print(f"{name}: sends binding {state}, MsvAvTargetName {target!r}")
        if state is None:
            results.append({"victim": name, "fails": ["the victim never sent an AUTHENTICATE"]})
            continue
        for enforcement in ("never", "when-supported", "always"):
            r = one(enforcement, name, state, workdir)
            r["target_name"] = target
            results.append(r)
    for r in results:
        print(json.dumps({k: v for k, v in r.items() if k not in ("fails", "victim_output")}))
        for f in r["fails"]:
            print(f"FAIL {r.get('enforcement', '')} {r['victim']}: {f}")
        failed += bool(r["fails"])
        passed += not r["fails"]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"relay: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
