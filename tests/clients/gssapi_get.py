"""GET a URL with requests + requests-gssapi (SPNEGO/Kerberos; a client nobody here wrote).

usage: gssapi_get.py URL [--cbt] [--target SERVICE@HOST]
Uses the ticket cache in KRB5CCNAME and requires mutual authentication. With --cbt it sends the tls-server-end-point channel
binding (requests-gssapi sends none unless asked). Prints {"status": int, "body": str}.
"""
import json
import sys

import requests
import urllib3
from requests_gssapi import REQUIRED, HTTPSPNEGOAuth

urllib3.disable_warnings()
url = sys.argv[1]
args = sys.argv[2:]
kwargs = {"channel_bindings": "tls-server-end-point"} if "--cbt" in args else {}
if "--target" in args:
    import gssapi

    kwargs["target_name"] = gssapi.Name(args[args.index("--target") + 1], gssapi.NameType.hostbased_service)
# REQUIRED: a 200 without the server's final token (the Kerberos AP-REP) is an error.
auth = HTTPSPNEGOAuth(mutual_authentication=REQUIRED, **kwargs)
try:
    r = requests.get(url, auth=auth, verify=False, timeout=30)
    print(json.dumps({"status": r.status_code, "body": r.text}))
except Exception as e:  # a client-side GSSAPI failure (no ticket for the service, ...)
    print(json.dumps({"status": 0, "body": "client error: %s" % e}))
