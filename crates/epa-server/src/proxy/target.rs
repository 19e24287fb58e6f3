//! The request line and `Host` before any route sees them: `CONNECT` is refused (405: this is
//! no forward proxy, and a `CONNECT /health` would be routed as `/health` and reach the
//! upstream as a tunnel request); a missing (HTTP/1.1), repeated or invalid `Host` is 400
//! (RFC 9112 §3.2); an absolute-form target replaces `Host` (RFC 9112 §3.2.2).

use http::header::{ALLOW, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Version};

/// Why a request is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRefusal {
    /// `CONNECT` (405).
    Connect,
    /// No `Host` on an HTTP/1.1 request (400).
    MissingHost,
    /// More than one `Host` field line (400).
    DuplicateHost,
    /// A `Host` that is not `uri-host [":" port]`, or an absolute-form target with user info
    /// (400).
    InvalidHost,
}

impl TargetRefusal {
    /// The stable reason code (log field).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Connect => "connect-method",
            Self::MissingHost => "host-missing",
            Self::DuplicateHost => "host-duplicate",
            Self::InvalidHost => "host-invalid",
        }
    }

    /// The answer: 405 with `Allow` (RFC 9110 §15.5.6), or 400.
    pub fn response(self) -> http::Response<super::ProxyBody> {
        if self == Self::Connect {
            let mut r = super::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut().insert(
                ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"),
            );
            return r;
        }
        super::text(StatusCode::BAD_REQUEST, "bad request: Host\n")
    }
}

/// Checks the method and `Host` of `req`; for an absolute-form target (or HTTP/2's
/// `:authority`), sets `Host` to the target's authority.
pub fn check_target<B>(req: &mut Request<B>) -> Result<(), TargetRefusal> {
    if req.method() == Method::CONNECT {
        return Err(TargetRefusal::Connect);
    }
    let mut hosts = req.headers().get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(TargetRefusal::DuplicateHost),
        (Some(h), None) => Some(h.clone()),
        (None, None) => None,
    };
    if let Some(h) = &host
        && !is_host(h.as_bytes())
    {
        return Err(TargetRefusal::InvalidHost);
    }
    if let Some(authority) = req.uri().authority() {
        let a = authority.as_str();
        if a.contains('@') || !is_host(a.as_bytes()) {
            return Err(TargetRefusal::InvalidHost);
        }
        let value = HeaderValue::from_str(a).map_err(|_| TargetRefusal::InvalidHost)?;
        req.headers_mut().insert(HOST, value);
        return Ok(());
    }
    if host.is_none() && req.version() == Version::HTTP_11 {
        return Err(TargetRefusal::MissingHost);
    }
    Ok(())
}

/// RFC 9112 §3.2 / RFC 3986 §3.2.2: `IP-literal / reg-name` (IPv4 is a reg-name), then an
/// optional `:port` of digits. Empty is refused (an `http` URI always has a host).
fn is_host(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|b| *b == b']') else {
            return false;
        };
        let inner = &v[1..end];
        let literal = std::str::from_utf8(inner)
            .ok()
            .is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok());
        if !literal {
            return false;
        }
        (&v[..=end], &v[end + 1..])
    } else {
        match v.iter().position(|b| *b == b':') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, &v[v.len()..]),
        }
    };
    let reg_name = host.first() == Some(&b'[')
        || (!host.is_empty()
            && host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(b)));
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    reg_name && port_ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(method: &str, uri: &str, hosts: &[&str], v: Version) -> Result<String, TargetRefusal> {
        let mut b = Request::builder().method(method).uri(uri).version(v);
        for h in hosts {
            b = b.header("host", *h);
        }
        let mut req = b.body(()).unwrap();
        check_target(&mut req)?;
        Ok(req
            .headers()
            .get("host")
            .map_or(String::new(), |h| h.to_str().unwrap().to_owned()))
    }

    #[test]
    fn connect_and_bad_hosts_are_refused() {
        let v11 = Version::HTTP_11;
        assert_eq!(
            check("CONNECT", "/health", &["a"], v11),
            Err(TargetRefusal::Connect)
        );
        assert_eq!(check("GET", "/", &[], v11), Err(TargetRefusal::MissingHost));
        assert_eq!(
            check("GET", "/", &["a", "b"], v11),
            Err(TargetRefusal::DuplicateHost)
        );
        for bad in [
            "", "a b", "a/b", "a@b", "a:x", "a:123456", "[::1", "[zz]:1", "a:1:2",
        ] {
            assert_eq!(
                check("GET", "/", &[bad], v11),
                Err(TargetRefusal::InvalidHost),
                "{bad:?}"
            );
        }
        for good in [
            "localhost",
            "web.example:443",
            "[::1]:8443",
            "127.0.0.1",
            "xn--d-ca.example",
        ] {
            assert_eq!(check("GET", "/", &[good], v11).unwrap(), good);
        }
        assert_eq!(check("GET", "/", &[], Version::HTTP_10).unwrap(), "");
    }

    #[test]
    fn absolute_form_target_decides_the_host() {
        let v11 = Version::HTTP_11;
        assert_eq!(
            check(
                "GET",
                "http://other.example:8080/admin",
                &["localhost"],
                v11
            )
            .unwrap(),
            "other.example:8080"
        );
    }
}
