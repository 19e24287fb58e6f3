"""Print a base64 SPNEGO/Kerberos initiator token for SERVICE@HOST from the ticket cache in
KRB5CCNAME (python-gssapi: a client nobody here wrote). usage: gssapi_token.py SERVICE@HOST"""
import base64
import sys

import gssapi

name = gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service)
spnego = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=spnego)
print(base64.b64encode(ctx.step()).decode())
