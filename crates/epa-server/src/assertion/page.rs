//! The key page: the JWK Set (RFC 7517 §5) at `[identity_assertion] jwks_path`, the signing key
//! first and the previous keys after it. Anonymous, answered before any route or Negotiate leg;
//! GET and HEAD only (405 otherwise); cacheable for a short time (`max-age`), so a verifier
//! that caches it sees a rotated key within a minute (and re-fetches on an unknown `kid`).

use super::keys::KeySet;
use epa_core::path::NormalizedPath;
use http::{Method, Request, Response, StatusCode, header};

/// How long a verifier may cache the page (seconds).
pub const MAX_AGE: u64 = 60;

/// The key page.
#[derive(Debug, Clone)]
pub struct KeyPage {
    path: NormalizedPath,
    body: String,
}

impl KeyPage {
    /// The page of `keys` at `path`.
    pub fn new(path: NormalizedPath, keys: &KeySet) -> Self {
        Self {
            path,
            body: keys.jwks().to_string(),
        }
    }

    /// The page's JSON text.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The answer when `req` asks for the page (its normalised path is the page's, ASCII case
    /// ignored as every path here), else `None`.
    pub fn answer<B>(&self, req: &Request<B>) -> Option<Response<String>> {
        let asked = NormalizedPath::parse(req.uri().path())
            .is_ok_and(|p| p.as_str().eq_ignore_ascii_case(self.path.as_str()));
        if !asked {
            return None;
        }
        let mut page = if req.method() == Method::GET || req.method() == Method::HEAD {
            let mut r = Response::new(self.body.clone());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = http::HeaderValue::from_str(&format!("public, max-age={MAX_AGE}")) {
                r.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            r
        } else {
            let mut r = Response::new("method not allowed\n".to_owned());
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        };
        page.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
        Some(page)
    }
}
