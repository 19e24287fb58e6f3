"""GET a URL with requests + requests-ntlm (a client nobody on this project wrote).

usage: ntlm_get.py URL DOMAIN\\USER PASSWORD [--no-cbt]
Prints one JSON object: {"status": int, "body": str}. requests-ntlm sends the
tls-server-end-point channel binding over HTTPS unless --no-cbt. A server that refuses the
first leg (401 without a CHALLENGE, e.g. a Kerberos-only route) makes requests-ntlm raise
PermissionError: reported as {"status": 401, "body": "", "refused_at": "negotiate"}.
"""
import json
import sys

import requests
import urllib3
from requests_ntlm import HttpNtlmAuth

urllib3.disable_warnings()
url, user, password = sys.argv[1:4]
auth = HttpNtlmAuth(user, password, send_cbt="--no-cbt" not in sys.argv[4:])
try:
    r = requests.get(url, auth=auth, verify=False, timeout=30)
except PermissionError as e:
    print(json.dumps({"status": 401, "body": "", "refused_at": "negotiate", "error": str(e)}))
    sys.exit(0)
print(json.dumps({"status": r.status_code, "body": r.text}))
