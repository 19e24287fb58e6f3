"""Serve the Python kdcproxy (Debian python3-kdcproxy; FreeIPA's KDC proxy) on 127.0.0.1 over
plain HTTP with the standard library's wsgiref: the second implementation tests/kdc_proxy.rs
compares epa's KDC proxy with.

usage: /usr/bin/python3 kdcproxy_server.py REALM KDC_HOST:PORT
Writes a kdcproxy.conf with DNS off and REALM's only KDC over TCP, prints "port N", serves until
killed. Runs under the system python3 (the package is not in the test venv).
"""
import os
import sys
import tempfile
from wsgiref.simple_server import WSGIRequestHandler, make_server

realm, kdc = sys.argv[1], sys.argv[2]
conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
conf.write("[global]\nuse_dns = false\n\n[%s]\nkerberos = kerberos+tcp://%s\n" % (realm, kdc))
conf.close()
os.environ["KDCPROXY_CONFIG"] = conf.name

import kdcproxy  # noqa: E402 (reads KDCPROXY_CONFIG when the application is made)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, kdcproxy.Application(), handler_class=Quiet)
print("port %d" % server.server_port, flush=True)
server.serve_forever()
