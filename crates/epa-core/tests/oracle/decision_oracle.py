#!/usr/bin/env python3
"""The second oracle for epa's decision: a model of docs/windows-semantics.md, written from that
text (and the .NET / IIS sources it cites), never from crates/epa-core/src/decide/.

It enumerates every combination of the axes below, decides each from the documentation's
tables, compresses the result into rows with `*` (a `*` cell stands for every value of its
column, and is only written when all of them give the same outcome), and prints the CSV that
docs/decision-table.csv holds. crates/epa-core/tests/decision_oracle.rs expands every row back
and checks `epa_core::decide` on each combination, and checks that this script still prints the
committed file.

    python3 crates/epa-core/tests/oracle/decision_oracle.py > docs/decision-table.csv

Python 3 standard library only.
"""

import itertools
import sys

# ---- the axes (column, values); the order is the CSV's ----
AXES = [
    ("profile", ["documented", "dotnet-legacy", "dotnet8", "iis"]),
    ("enforcement", ["never", "when-supported", "always"]),
    ("scenario", ["transport-selected", "trusted-proxy"]),
    # custom: the policy lists HTTP/www.contoso.com (IIS: one <spn> entry); default: no custom
    # names, the listener's default names are [HTTP/www.contoso.com]; none: neither.
    ("names", ["custom", "default", "none"]),
    # http.sys flags beyond Proxy (which is the scenario): the policy then comes from the IIS
    # form (tokenChecking = enforcement, flags = Proxy if trusted-proxy + this flag).
    ("iis_flags", ["none", "no-service-name-check", "proxy-cohosting"]),
    # ServerPolicy::with_proxy_binding_verification (a named proxy certificate).
    ("proxy_pin", ["no", "yes"]),
    ("server_ep", ["yes", "no"]),
    ("transport", ["https", "http"]),
    ("mechanism", ["ntlm", "kerberos", "other"]),
    ("binding", ["match", "mismatch", "absent", "unbound", "not-checked"]),
    ("client_spn", ["none", "empty", "listed", "listed-by-case", "http-localhost", "unlisted",
                    "dotless", "with-port"]),
]
OUTCOME = ["outcome", "status", "reason", "service_name"]

# The client's SPN per class (the Rust test uses the same strings).
SPN_TEXT = {
    "listed": "HTTP/www.contoso.com",
    "listed-by-case": "http/WWW.Contoso.COM",
    "http-localhost": "http/localhost",
    "unlisted": "HTTP/evil.example",
    "dotless": "HTTP/www",
    "with-port": "HTTP/www.contoso.com:443",
}


def acceptable_names(c):
    """The list the SPN check compares with (§4.6 'List'; §6.2 'Names')."""
    if c["profile"] == "iis":
        # §6.2: http.sys compares only with the configured <spn> entries.
        return ["HTTP/www.contoso.com"] if c["names"] == "custom" else []
    if c["names"] == "custom":
        return ["HTTP/www.contoso.com"]
    defaults = ["HTTP/www.contoso.com"] if c["names"] == "default" else []
    if c["profile"] in ("dotnet8", "documented"):
        # §4.6 .NET 8+: default names plus HTTP/localhost; documented: silent → .NET 8+.
        return defaults + ["HTTP/localhost"]
    return defaults


def contains(names, spn):
    """§3.1/§3.2 for the names used here: DNS hosts are compared case-insensitively (ASCII,
    §3.3); a port is kept verbatim, so `host:443` is another name; no dotless expansion."""
    return any(n.lower() == spn.lower() for n in names)


def config_error(c):
    """Configurations that cannot be built: (code) or None."""
    flags = c["iis_flags"]
    if flags == "proxy-cohosting" and c["scenario"] != "trusted-proxy":
        return "proxy-cohosting-without-proxy"  # §6.1: ProxyCohosting only with Proxy
    if c["enforcement"] == "never":
        return None  # tokenChecking None / Never: nothing else is read (§1.1, §6.1)
    if flags != "none" and c["profile"] != "iis":
        return "http-sys-flags-need-iis-profile"  # .NET has no such flags
    if (c["profile"] in ("documented", "dotnet8") and c["names"] == "none"):
        return "no-service-names"  # §4.6 row 12, .NET 8+: thrown on every new context
    return None


def binding_layer(c):
    """§4.5 (and §6.2 for iis): returns ('reject', reason) or ('pass', how)."""
    b = c["binding"]
    always = c["enforcement"] == "always"
    if c["scenario"] == "trusted-proxy":
        # ASC_REQ_PROXY_BINDINGS: any non-zero binding passes, Z fails, A fails under Always.
        if b == "match":
            return ("pass", "none")
        if b == "mismatch":
            # a pinned proxy certificate turns the presence test into a comparison
            return ("reject", "binding-mismatch") if c["proxy_pin"] == "yes" else ("pass", "none")
        if b == "unbound":
            if c["profile"] == "iis" and c["iis_flags"] == "proxy-cohosting":
                return ("pass", "none")  # §6.2 proxy_cohosting: Z OK
            return ("reject", "binding-unbound")
        if b == "absent":
            return ("reject", "binding-absent") if always else ("pass", "none")
        # not-checked: ARCHITECTURE.md, "did not look" counts as absent
        return ("reject", "binding-not-checked") if always else ("pass", "none")
    if c["transport"] == "http":
        return ("pass", "none")  # §4.5 last row: nothing handed over, nothing compared
    # HTTPS, TransportSelected: the TLS binding is handed over.
    if b == "match":
        return ("pass", "binding-verified")
    if b == "mismatch":
        return ("reject", "binding-mismatch")
    if b == "unbound":
        return ("reject", "binding-unbound")  # ALLOW_MISSING does not rescue Z
    if b == "absent":
        return ("reject", "binding-absent") if always else ("pass", "binding-absent-allowed")
    # not-checked: the server had no binding (row 6) -- except http.sys, which always has it
    if c["profile"] == "iis":
        return ("reject", "binding-not-checked")
    return ("pass", "no-server-binding")


def name_layer(c, how):
    """§4.6 CheckSpn per profile, §6.2 for iis: ('accept', reason) or ('reject', status, reason)."""
    always = c["enforcement"] == "always"
    tls_ts = c["transport"] == "https" and c["scenario"] == "transport-selected"
    p = c["profile"]
    if c["mechanism"] == "kerberos":
        return ("accept", "kerberos-validates-service-name")  # row 14, every profile
    if p == "dotnet-legacy" and tls_ts:
        # step 3: "the channel binding was already checked" -- even without one (row 6)
        return ("accept", "binding-unavailable-fail-open" if how == "no-server-binding" else how)
    if p in ("dotnet8", "documented") and tls_ts and how != "no-server-binding":
        return ("accept", how)  # a binding was handed over: no name check (HTTPS 3)
    if p == "iis":
        if c["iis_flags"] == "no-service-name-check":
            return ("accept", "service-name-check-disabled")
        if c["scenario"] == "transport-selected":
            if c["transport"] == "https":
                return ("accept", how)  # medium/strict_no_flags_tls: no name check
            if c["names"] != "custom":
                return ("accept", "no-service-name-check-without-proxy")  # inferred, §6.2
    spn = c["client_spn"]
    if spn == "none" or (spn == "empty" and p != "documented"):
        # step 6 (legacy), .NET 8+ "no name" ("" is treated like null by the code)
        if always:
            return ("reject", 401, "service-name-not-provided")
        return ("accept", "service-name-not-provided-allowed")
    if spn == "empty":
        return ("reject", 401, "service-name-empty")  # documented HTTP outcome 3
    text = SPN_TEXT[spn]
    if p == "dotnet-legacy" and text.lower() == "http/localhost":
        return ("accept", "local-client")  # step 7, before the list is read
    names = acceptable_names(c)
    if p == "dotnet-legacy" and not names:
        return ("reject", 500, "no-service-names")  # step 8: the lazy throw
    if contains(names, text):
        return ("accept", "service-name-matched")
    return ("reject", 401, "service-name-not-in-list")


def decide(c):
    """One combination → (outcome, status, reason, service_name)."""
    err = config_error(c)
    if err:
        return ("config-error", "", err, "")
    if c["enforcement"] == "never":
        return ("accept", "", "ep-disabled", "client")  # row 1
    if c["server_ep"] == "no":
        if c["profile"] in ("documented", "iis"):
            # documented outcome 1: ServiceName null (the same as the client's when it sent none)
            sn = "client" if c["client_spn"] == "none" else "null"
            return ("reject", "401", "server-lacks-ep", sn)
        if c["enforcement"] == "always":
            return ("reject", "500", "ep-unsupported", "client")  # PlatformNotSupported
        return ("accept", "", "ep-unavailable-ignored", "client")
    layer = binding_layer(c)
    if layer[0] == "reject":
        return ("reject", "401", layer[1], "client")
    r = name_layer(c, layer[1])
    if r[0] == "accept":
        return ("accept", "", r[1], "client")
    return ("reject", str(r[1]), r[2], "client")


def full_table():
    names = [a for a, _ in AXES]
    for values in itertools.product(*(v for _, v in AXES)):
        c = dict(zip(names, values))
        yield values, decide(c)


def compress(table):
    """Collapses one column at a time (last first) into `*` where every value agrees."""
    rows = dict(table)
    for i in reversed(range(len(AXES))):
        domain = AXES[i][1]
        groups = {}
        for key, out in rows.items():
            groups.setdefault(key[:i] + key[i + 1:], {})[key[i]] = out
        new = {}
        for rest, by_value in groups.items():
            outs = set(by_value.values())
            if len(by_value) == len(domain) and len(outs) == 1:
                new[rest[:i] + ("*",) + rest[i:]] = outs.pop()
            else:
                for v, out in by_value.items():
                    new[rest[:i] + (v,) + rest[i:]] = out
        rows = new
    order = [{v: n for n, v in enumerate(vals + ["*"])} for _, vals in AXES]
    return sorted(rows.items(), key=lambda kv: [order[i][x] for i, x in enumerate(kv[0])])


def main():
    out = sys.stdout
    out.write(",".join([a for a, _ in AXES] + OUTCOME) + "\n")
    for key, outcome in compress(full_table()):
        out.write(",".join(list(key) + list(outcome)) + "\n")


if __name__ == "__main__":
    main()
