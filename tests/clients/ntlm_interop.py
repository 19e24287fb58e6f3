"""NTLM interop peer for tests/interop.rs: a crafting NTLM client and two independent acceptors.

One JSON object per line on stdin, one answer per line on stdout (the Rust test is the hub: it
carries every token between a client and an acceptor, so the same crafted messages reach every
acceptor).

Client (built from pyspnego's NTLM primitives, so any value can be sent):
  {"op": "client", "case": {...}}          -> {"token": NEGOTIATE hex}
  {"op": "client_auth", "challenge": hex}  -> {"token": AUTHENTICATE hex}
  case keys: user, domain, password, version ("v2" | "v1" | "lm"), binding (null = no
  MsvAvChannelBindings, else 32 hex digits), mic ("ok" | "none" | "altered"), untrusted_spn
  (bool: MsvAvFlags 0x4), target_name (null = no MsvAvTargetName, else the string).

Acceptors (NTLM_USER_FILE must name a DOMAIN:USER:PASSWORD file):
  {"op": "acceptor", "kind": "pyspnego" | "gss-ntlmssp", "cbt": application-data hex | null}
  {"op": "accept", "token": hex}
    -> {"ok": true, "complete": bool, "token": hex | null, "channel_bound": bool | null}
    -> {"ok": false, "error": exception class name, "message": text}
  pyspnego: spnego.server(protocol="ntlm"); gss-ntlmssp: python-gssapi's acceptor with the NTLMSSP
  mechanism (1.3.6.1.4.1.311.2.2.10), which MIT's mechglue loads from /etc/gss/mech.d;
  "mit-krb5": python-gssapi's Kerberos acceptor (keytab from KRB5_KTNAME).

Kerberos client (MIT through python-gssapi; ticket cache from KRB5CCNAME, KRB5_CONFIG decides
whether it announces binding support with client_aware_channel_bindings):
  {"op": "krb_client", "target": "HTTP@localhost", "cbt": application-data hex | null}
    -> {"token": AP-REQ hex}
"""

import json
import os
import sys

from spnego._ntlm_raw.crypto import (
    compute_response_v1,
    compute_response_v2,
    hmac_md5,
    lmowfv1,
    ntowfv1,
    ntowfv2,
    rc4k,
)
from spnego._ntlm_raw.messages import (
    Authenticate,
    AvFlags,
    AvId,
    Challenge,
    Negotiate,
    NegotiateFlags,
    TargetInfo,
    Version,
)

NTLMSSP_OID = "1.3.6.1.4.1.311.2.2.10"
GSS_C_CHANNEL_BOUND_FLAG = 0x800


def version():
    return Version(10, 0, 19041)


class Client:
    """One crafted exchange: NEGOTIATE, then an AUTHENTICATE answering the server's CHALLENGE."""

    def __init__(self, case):
        self.case = case
        v = case.get("version", "v2")
        flags = (
            NegotiateFlags.unicode
            | NegotiateFlags.request_target
            | NegotiateFlags.ntlm
            | NegotiateFlags.always_sign
            | NegotiateFlags.version
            | NegotiateFlags.key_128
            | NegotiateFlags.key_56
            | NegotiateFlags.key_exch
            | NegotiateFlags.sign
        )
        if v == "v2":
            flags |= NegotiateFlags.extended_session_security
        else:
            flags |= NegotiateFlags.lm_key if v == "lm" else 0
        self.flags = flags
        self.negotiate = Negotiate(flags, version=version()).pack()

    def authenticate(self, challenge_bytes):
        case = self.case
        challenge = Challenge.unpack(challenge_bytes)
        user, domain, password = case["user"], case["domain"], case["password"]
        nt_hash, lm_hash = ntowfv1(password), lmowfv1(password)
        client_challenge = os.urandom(8)
        flags = self.flags & challenge.flags | NegotiateFlags.unicode | NegotiateFlags.ntlm
        flags |= NegotiateFlags.key_exch | NegotiateFlags.sign
        v = case.get("version", "v2")
        if v == "v2":
            info = challenge.target_info.copy() if challenge.target_info else TargetInfo()
            time = info[AvId.timestamp]
            av = 0
            if case.get("mic", "ok") != "none":
                av |= AvFlags.mic
            if case.get("untrusted_spn"):
                av |= AvFlags.untrusted_spn
            if av:
                info[AvId.flags] = AvFlags(av)
            if case.get("binding") is not None:
                info[AvId.channel_bindings] = bytes.fromhex(case["binding"])
            if case.get("target_name") is not None:
                info[AvId.target_name] = case["target_name"]
            key = ntowfv2(user, nt_hash, domain)
            nt, lm, kx = compute_response_v2(key, challenge.server_challenge, client_challenge, time, info)
            lm = b"\x00" * 24
        else:
            flags &= ~NegotiateFlags.extended_session_security
            nt, lm, kx = compute_response_v1(
                flags, nt_hash, lm_hash, challenge.server_challenge, client_challenge, no_lm_response=False
            )
            if v == "lm":
                nt = b""
        exported = os.urandom(16)
        encrypted = rc4k(kx, exported)
        auth = Authenticate(
            flags,
            lm,
            nt,
            domain,
            user,
            "CLIENT",
            encrypted,
            version=version(),
            mic=b"\x00" * 16,
        )
        if v == "v2" and case.get("mic", "ok") != "none":
            mic = hmac_md5(exported, self.negotiate + challenge_bytes + auth.pack())
            if case.get("mic") == "altered":
                mic = bytes([mic[0] ^ 1]) + mic[1:]
            auth.mic = mic
        return auth.pack()


class PyspnegoAcceptor:
    def __init__(self, cbt):
        import spnego
        from spnego.channel_bindings import GssChannelBindings

        bindings = GssChannelBindings(application_data=cbt) if cbt is not None else None
        self.ctx = spnego.server(protocol="ntlm", channel_bindings=bindings)

    def step(self, token):
        out = self.ctx.step(token)
        return {"ok": True, "complete": self.ctx.complete, "token": out.hex() if out else None, "channel_bound": None}


KRB5_OID = "1.2.840.113554.1.2.2"


class GssAcceptor:
    def __init__(self, cbt, oid):
        import gssapi
        import gssapi.raw

        mech = gssapi.OID.from_int_seq(oid)
        creds = gssapi.Credentials(usage="accept", mechs=[mech])
        bindings = gssapi.raw.ChannelBindings(application_data=cbt) if cbt is not None else None
        self.ctx = gssapi.SecurityContext(creds=creds, usage="accept", channel_bindings=bindings)

    def step(self, token):
        out = self.ctx.step(token)
        bound = None
        if self.ctx.complete:
            bound = bool(int(self.ctx.actual_flags) & GSS_C_CHANNEL_BOUND_FLAG) if hasattr(
                self.ctx.actual_flags, "__int__"
            ) else any(int(f) == GSS_C_CHANNEL_BOUND_FLAG for f in self.ctx.actual_flags)
        return {"ok": True, "complete": self.ctx.complete, "token": out.hex() if out else None, "channel_bound": bound}


def krb_token(target, cbt):
    """One AP-REQ (no mutual authentication: a single leg), bound to `cbt` when given."""
    import gssapi
    import gssapi.raw

    name = gssapi.Name(target, gssapi.NameType.hostbased_service)
    bindings = gssapi.raw.ChannelBindings(application_data=bytes.fromhex(cbt)) if cbt is not None else None
    ctx = gssapi.SecurityContext(
        name=name,
        mech=gssapi.OID.from_int_seq(KRB5_OID),
        usage="initiate",
        flags=gssapi.RequirementFlag.out_of_sequence_detection,
        channel_bindings=bindings,
    )
    return ctx.step()


def main():
    client = None
    acceptor = None
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "client":
                client = Client(req["case"])
                answer = {"token": client.negotiate.hex()}
            elif op == "client_auth":
                answer = {"token": client.authenticate(bytes.fromhex(req["challenge"])).hex()}
            elif op == "acceptor":
                cbt = bytes.fromhex(req["cbt"]) if req.get("cbt") is not None else None
                kind = req["kind"]
                if kind == "pyspnego":
                    acceptor = PyspnegoAcceptor(cbt)
                else:
                    acceptor = GssAcceptor(cbt, NTLMSSP_OID if kind == "gss-ntlmssp" else KRB5_OID)
                answer = {"ok": True}
            elif op == "krb_client":
                answer = {"token": krb_token(req["target"], req.get("cbt")).hex()}
            elif op == "accept":
                answer = acceptor.step(bytes.fromhex(req["token"]))
            else:
                answer = {"ok": False, "error": "UnknownOp", "message": op}
        except Exception as e:  # the failure is the measurement: report its class
            answer = {"ok": False, "error": type(e).__name__, "message": str(e)[:300]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
