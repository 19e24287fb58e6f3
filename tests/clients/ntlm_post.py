"""POST a body of N bytes with requests + requests-ntlm (which resends the body on every leg).

usage: ntlm_post.py URL DOMAIN\\USER PASSWORD N [--no-cbt]
Prints one JSON object: {"status": int, "body": str}.
"""
import json
import sys

import requests
import urllib3
from requests_ntlm import HttpNtlmAuth

urllib3.disable_warnings()
url, user, password, size = sys.argv[1:5]
auth = HttpNtlmAuth(user, password, send_cbt="--no-cbt" not in sys.argv[5:])
r = requests.post(url, data=b"x" * int(size), auth=auth, verify=False, timeout=30)
print(json.dumps({"status": r.status_code, "body": r.text}))
