"""Verifies an epa identity assertion with PyJWT (a library nobody on this project wrote),
fetching the signing key from epa's key page with PyJWKClient.

usage: verify_assertion.py JWKS_URL TOKEN AUDIENCE ISSUER MODE
MODE: "as-is" | "expired" (verified with PyJWT's clock moved just past exp) |
      "wrong-key" (verified against a freshly generated key of the same type) |
      "tampered" (payload's sub changed, signature kept)
Prints one JSON line: {"ok": true, "claims": {...}, "kid": ...} or {"ok": false, "error": CLASS}.
"""
import base64
import datetime
import json
import ssl
import sys

import jwt
import jwt.api_jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    url, token, audience, issuer, mode = sys.argv[1:6]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test certificate is self-signed
    client = jwt.PyJWKClient(url, ssl_context=ctx, timeout=10)
    header = jwt.get_unverified_header(token)
    try:
        key = client.get_signing_key_from_jwt(token).key
        if mode == "expired":
            claims = jwt.decode(token, options={"verify_signature": False})
            future = datetime.datetime.fromtimestamp(claims["exp"] + 1, datetime.timezone.utc)

            class Later(datetime.datetime):
                @classmethod
                def now(cls, tz=None):
                    return future

            jwt.api_jwt.datetime = Later  # PyJWT reads its clock as datetime.now(tz=utc)
        elif mode == "wrong-key":
            key = (ec.generate_private_key(ec.SECP256R1()) if header["alg"] == "ES256"
                   else ed25519.Ed25519PrivateKey.generate()).public_key()
        elif mode == "tampered":
            head, payload, sig = token.split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            claims["sub"] = "TESTDOM\\admin"
            token = ".".join([head, b64(json.dumps(claims).encode()), sig])
        claims = jwt.decode(token, key, algorithms=["ES256", "EdDSA"], audience=audience,
                            issuer=issuer,
                            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})
        print(json.dumps({"ok": True, "claims": claims, "kid": header.get("kid")}))
    except jwt.PyJWTError as e:
        print(json.dumps({"ok": False, "error": type(e).__name__, "detail": str(e)}))


if __name__ == "__main__":
    main()
