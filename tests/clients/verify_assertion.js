// Verifies an epa identity assertion with Node's `jose` (a library nobody on this project
// wrote), fetching the key page with createRemoteJWKSet.
// usage: node verify_assertion.js JWKS_URL TOKEN AUDIENCE ISSUER MODE   (run where `jose` resolves)
// MODE: as-is | expired (currentDate past exp) | wrong-key (a fresh key's JWKS) | tampered
// Prints one JSON line: {"ok": true, "claims": {...}} or {"ok": false, "error": CODE}.
const jose = require('jose');

async function main() {
  let [url, token, audience, issuer, mode] = process.argv.slice(2);
  const header = jose.decodeProtectedHeader(token);
  let keys = jose.createRemoteJWKSet(new URL(url), { timeoutDuration: 10000 });
  const options = { audience, issuer, algorithms: ['ES256', 'EdDSA'], requiredClaims: ['exp', 'iat', 'nbf', 'jti', 'sub'] };
  if (mode === 'expired') {
    const claims = jose.decodeJwt(token);
    options.currentDate = new Date((claims.exp + 1) * 1000);
  } else if (mode === 'wrong-key') {
    const { publicKey } = await jose.generateKeyPair(header.alg, header.alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: header.kid, alg: header.alg };
    keys = jose.createLocalJWKSet({ keys: [jwk] });
  } else if (mode === 'tampered') {
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = 'TESTDOM\\admin';
    token = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
  }
  try {
    const { payload } = await jose.jwtVerify(token, keys, options);
    console.log(JSON.stringify({ ok: true, claims: payload }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: e.code || e.name, detail: String(e.message) }));
  }
}
main();
