//! The demo application checks the signed assertion the way an application should: it fetches
//! epa's key page (JWKS) over TLS, trusting only the demo's certificate, picks the key by `kid`
//! and verifies the JWS signature (RFC 7515; ES256 or EdDSA, RFC 7518 §3.4 and RFC 8037) with
//! `ring`, then the issuer, the audience and the times (RFC 7519 §4.1). Keys are cached; an
//! unknown `kid` fetches the page again (a rotation), at most once per second.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Deadline for one fetch of the key page (connect, handshake, response).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest key page read.
const MAX_KEY_PAGE: usize = 64 * 1024;
/// The largest assertion looked at.
const MAX_ASSERTION: usize = 16 * 1024;

/// Why an assertion was not accepted.
#[derive(Debug, Error)]
pub(crate) enum VerifyError {
    /// Not three base64url parts of JSON.
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    /// The key page could not be fetched or read.
    #[error("cannot read the key page: {0}")]
    KeyPage(String),
    /// No key on the key page has this `kid`.
    #[error("no key {0:?} on the key page")]
    UnknownKey(String),
    /// The header's `alg` is not the key's.
    #[error("algorithm {0:?} does not match the key")]
    Algorithm(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// `exp` has passed.
    #[error("expired {0} s ago")]
    Expired(i64),
    /// `iss` or `aud` is not what this application expects.
    #[error("{0} is {1:?}, expected {2:?}")]
    Claim(&'static str, String, String),
}

/// The result of checking one assertion: what could be decoded, and the verdict.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The JOSE header, when it decoded.
    pub(crate) header: Option<Value>,
    /// The claims, when they decoded (shown even when the signature fails, marked so).
    pub(crate) claims: Option<Value>,
    /// The key id it verified with, and seconds left, or why not.
    pub(crate) result: Result<(String, i64), VerifyError>,
}

impl Checked {
    /// One line: verified with which key, or why not.
    pub(crate) fn summary(&self) -> String {
        match &self.result {
            Ok((kid, left)) => format!(
                "signature verified with key {kid} from epa's key page; issuer and audience as expected; expires in {left} s"
            ),
            Err(e) => format!("NOT valid: {e}"),
        }
    }
}

/// One key of the key page (RFC 7517 §4; EC P-256 or OKP Ed25519).
#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// epa's key page as the demo application reads it.
pub(crate) struct KeyPage {
    addr: SocketAddr,
    path: String,
    tls: Arc<rustls::ClientConfig>,
    issuer: String,
    audience: String,
    cache: tokio::sync::Mutex<(Option<Instant>, Vec<Jwk>)>,
}

impl KeyPage {
    /// The key page at `https://localhost:PORT{path}` reached at `addr`, trusting only `cert`.
    pub(crate) fn new(
        addr: SocketAddr,
        path: String,
        cert_der: Vec<u8>,
        issuer: String,
        audience: String,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(cert_der))
            .map_err(|e| format!("demo certificate: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            addr,
            path,
            tls: Arc::new(tls),
            issuer,
            audience,
            cache: tokio::sync::Mutex::new((None, Vec::new())),
        })
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, VerifyError> {
        let fail = |e: &dyn std::fmt::Display| VerifyError::KeyPage(e.to_string());
        let fetch = async {
            let tcp = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| fail(&e))?;
            let name =
                rustls::pki_types::ServerName::try_from("localhost").map_err(|e| fail(&e))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| fail(&e))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| fail(&e))?;
            tokio::spawn(conn);
            let req = http::Request::get(self.path.as_str())
                .header(
                    http::header::HOST,
                    format!("localhost:{}", self.addr.port()),
                )
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .map_err(|e| fail(&e))?;
            let resp = sender.send_request(req).await.map_err(|e| fail(&e))?;
            if !resp.status().is_success() {
                return Err(fail(&format!("status {}", resp.status())));
            }
            let body = http_body_util::Limited::new(resp.into_body(), MAX_KEY_PAGE)
                .collect()
                .await
                .map_err(|e| fail(&e))?
                .to_bytes();
            serde_json::from_slice::<Jwks>(&body)
                .map(|j| j.keys)
                .map_err(|e| fail(&e))
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| VerifyError::KeyPage("timed out".into()))?
    }

    /// The key `kid`, fetching the page when it is not cached (at most once a second).
    async fn key(&self, kid: &str) -> Result<Jwk, VerifyError> {
        let mut cache = self.cache.lock().await;
        if let Some(k) = cache.1.iter().find(|k| k.kid == kid) {
            return Ok(k.clone());
        }
        if cache
            .0
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            let keys = self.fetch().await?;
            *cache = (Some(Instant::now()), keys);
        }
        cache
            .1
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))
    }

    /// Decodes and checks one compact JWS.
    pub(crate) async fn verify(&self, token: &str) -> Checked {
        let mut checked = Checked {
            header: None,
            claims: None,
            result: Err(VerifyError::Malformed("empty")),
        };
        let parts: Vec<&str> = token.split('.').collect();
        let [h, c, sig] = parts[..] else {
            checked.result = Err(VerifyError::Malformed("not three parts"));
            return checked;
        };
        if token.len() > MAX_ASSERTION {
            checked.result = Err(VerifyError::Malformed("too long"));
            return checked;
        }
        let json =
            |part: &str| -> Option<Value> { serde_json::from_slice(&B64.decode(part).ok()?).ok() };
        checked.header = json(h);
        checked.claims = json(c);
        checked.result = self.check(&checked, h, c, sig).await;
        checked
    }

    async fn check(
        &self,
        checked: &Checked,
        h: &str,
        c: &str,
        sig: &str,
    ) -> Result<(String, i64), VerifyError> {
        let (Some(header), Some(claims)) = (&checked.header, &checked.claims) else {
            return Err(VerifyError::Malformed(
                "header or claims not base64url JSON",
            ));
        };
        let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let kid = field(header, "kid").ok_or(VerifyError::Malformed("no kid"))?;
        let alg = field(header, "alg").unwrap_or_default();
        let key = self.key(&kid).await?;
        let sig = B64
            .decode(sig)
            .map_err(|_| VerifyError::Malformed("signature not base64url"))?;
        let x = key.x.as_deref().and_then(|x| B64.decode(x).ok());
        let public: (&'static dyn VerificationAlgorithm, Vec<u8>) =
            match (alg.as_str(), key.kty.as_str(), key.crv.as_deref()) {
                ("ES256", "EC", Some("P-256")) => {
                    let y = key.y.as_deref().and_then(|y| B64.decode(y).ok());
                    match (x, y) {
                        (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                            (&ECDSA_P256_SHA256_FIXED, [&[4u8][..], &x, &y].concat())
                        }
                        _ => return Err(VerifyError::KeyPage(format!("key {kid}: bad EC point"))),
                    }
                }
                ("EdDSA", "OKP", Some("Ed25519")) => match x {
                    Some(x) if x.len() == 32 => (&ED25519, x),
                    _ => return Err(VerifyError::KeyPage(format!("key {kid}: bad Ed25519 key"))),
                },
                _ => return Err(VerifyError::Algorithm(alg)),
            };
        let input = format!("{h}.{c}");
        UnparsedPublicKey::new(public.0, &public.1)
            .verify(input.as_bytes(), &sig)
            .map_err(|_| VerifyError::Signature)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= now {
            return Err(VerifyError::Expired(now - exp));
        }
        let iss = field(claims, "iss").unwrap_or_default();
        if iss != self.issuer {
            return Err(VerifyError::Claim("iss", iss, self.issuer.clone()));
        }
        let aud = field(claims, "aud").unwrap_or_default();
        if aud != self.audience {
            return Err(VerifyError::Claim("aud", aud, self.audience.clone()));
        }
        Ok((kid, exp - now))
    }
}
