"""GET a URL with NTLM inside SPNEGO (`Negotiate`), made by pyspnego (a client nobody here wrote).

usage: spnego_ntlm_get.py URL DOMAIN\\USER PASSWORD [--spn SERVICE/HOST] [--cbt]
pyspnego's own SPNEGO (`protocol="negotiate"`, `NegotiateOptions.use_negotiate`) with an NT-hash
credential, which only NTLM can use: the tokens are a NegTokenInit offering NTLM only, then a
NegTokenResp carrying the AUTHENTICATE. `--spn` is the target name the client puts in
MsvAvTargetName (default: HTTP/<host of URL>); `--cbt` adds the tls-server-end-point binding.
Prints {"status": int, "body": str, "tokens": [first leg's first bytes hex, ...]}.
"""
import base64
import hashlib
import json
import ssl
import sys
import urllib.parse

import requests
import spnego
import urllib3
from spnego._ntlm_raw.crypto import ntowfv1

urllib3.disable_warnings()
url, user, password = sys.argv[1:4]
args = sys.argv[4:]
host = urllib.parse.urlsplit(url).hostname
spn = args[args.index("--spn") + 1] if "--spn" in args else "HTTP/" + host
service, _, target_host = spn.partition("/")

session = requests.Session()
session.verify = False
bindings = None
if "--cbt" in args:
    parts = urllib.parse.urlsplit(url)
    pem = ssl.get_server_certificate((parts.hostname, parts.port or 443))
    der = ssl.PEM_cert_to_DER_cert(pem)
    bindings = spnego.channel_bindings.GssChannelBindings(
        application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest()
    )
credential = spnego.NTLMHash(user, nt_hash=ntowfv1(password).hex())
ctx = spnego.client(
    credential,
    hostname=target_host,
    service=service,
    channel_bindings=bindings,
    protocol="negotiate",
    options=spnego.NegotiateOptions.use_negotiate,
)
token = ctx.step()
sent = []
response = None
for _ in range(4):
    sent.append(token[:4].hex())
    header = {"Authorization": "Negotiate " + base64.b64encode(token).decode()}
    response = session.get(url, headers=header, verify=False, timeout=30)
    challenge = response.headers.get("WWW-Authenticate", "")
    if response.status_code != 401 or not challenge.startswith("Negotiate "):
        break
    token = ctx.step(base64.b64decode(challenge.split(" ", 1)[1]))
    if token is None:
        break
print(json.dumps({"status": response.status_code, "body": response.text, "tokens": sent}))
