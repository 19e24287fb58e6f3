//! What the upstream sees of a request's and a response's headers: hop-by-hop headers removed
//! (RFC 9110 §7.6.1), the client's Negotiate/NTLM `Authorization` never forwarded, every client
//! copy of the identity headers removed before ours are set, and the forwarding headers
//! (`Forwarded`, RFC 7239; `X-Forwarded-For/-Proto/-Host`). Header names with `_` are
//! dropped first (nginx `underscores_in_headers off`): CGI/WSGI read `X_Remote_User` as
//! `X-Remote-User`.

use epa_config::identity_headers::HOP_BY_HOP_HEADERS;
pub use epa_config::proxy::{
    CLIENT_ADDRESS_HEADERS, FORWARDING_CLAIM_HEADERS, PATH_OVERRIDE_HEADERS,
};
use epa_config::proxy::{ForwardedMode, HeaderNameError, IdentityHeadersTable};
use epa_config::proxy_rules::{IdentityEncoding, underscore_spelling_of_reserved};
use epa_core::decide::{ClientServiceName, Transport};
use epa_hyper::client_cert::ClientCertificate;
use epa_hyper::{Authenticated, ChannelFacts};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;
use thiserror::Error;

use epa_hyper::telemetry::metrics::DROPPED_HEADERS_TOTAL;

/// `[identity_assertion] header`'s default name, removed from every request whatever the
/// configured name.
static DEFAULT_ASSERTION_HEADER: HeaderName = HeaderName::from_static("x-epa-assertion");

/// The identity header names, parsed once.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    user: HeaderName,
    principal: HeaderName,
    domain: HeaderName,
    mechanism: HeaderName,
    service_name: HeaderName,
    user_sid: HeaderName,
    groups: HeaderName,
    binding: HeaderName,
    /// `[identity_assertion] header`: the client's copies are removed from every request,
    /// whether or not assertions are configured.
    assertion: HeaderName,
    cert_subject: HeaderName,
    cert_sha256: HeaderName,
    forwarded: ForwardedMode,
    encoding: IdentityEncoding,
}

/// An identity value that cannot be sent as it is: the request is refused (500), never
/// forwarded with a truncated or altered identity.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "identity header {header} cannot carry the value (control character, or whitespace at an end)"
)]
pub struct IdentityValueError {
    /// The header that could not be set.
    pub header: HeaderName,
}

impl IdentityHeaders {
    /// Parses and checks the names (`IdentityHeadersTable::validate`).
    pub fn new(table: &IdentityHeadersTable) -> Result<Self, HeaderNameError> {
        table.validate()?;
        let parse = |field: &'static str, name: &str| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderNameError::Invalid {
                field,
                name: name.to_owned(),
            })
        };
        Ok(Self {
            user: parse("user", &table.user)?,
            principal: parse("principal", &table.principal)?,
            domain: parse("domain", &table.domain)?,
            mechanism: parse("mechanism", &table.mechanism)?,
            service_name: parse("service_name", &table.service_name)?,
            user_sid: parse("user_sid", &table.user_sid)?,
            groups: parse("groups", &table.groups)?,
            binding: parse("binding", &table.binding)?,
            assertion: HeaderName::from_static("x-epa-assertion"),
            cert_subject: parse("client_cert_subject", &table.client_cert_subject)?,
            cert_sha256: parse("client_cert_sha256", &table.client_cert_sha256)?,
            forwarded: table.forwarded,
            encoding: table.encoding,
        })
    }

    /// The header the signed identity assertion goes in (its client copies are removed
    /// from every request): `name` must have passed
    /// [`epa_config::assertion::check_header`].
    #[must_use]
    pub fn with_assertion_header(mut self, name: HeaderName) -> Self {
        self.assertion = name;
        self
    }

    /// The assertion header's name.
    pub fn assertion_header(&self) -> &HeaderName {
        &self.assertion
    }

    fn all(&self) -> [&HeaderName; 12] {
        [
            &self.binding,
            &self.assertion,
            // The default name too when the header is renamed: an application that still reads
            // it (a migration) never sees a client's copy.
            &DEFAULT_ASSERTION_HEADER,
            &self.user,
            &self.principal,
            &self.domain,
            &self.mechanism,
            &self.service_name,
            &self.user_sid,
            &self.groups,
            &self.cert_subject,
            &self.cert_sha256,
        ]
    }
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: HeaderName::from_static("x-remote-user"),
            principal: HeaderName::from_static("x-remote-principal"),
            domain: HeaderName::from_static("x-remote-domain"),
            mechanism: HeaderName::from_static("x-auth-mechanism"),
            service_name: HeaderName::from_static("x-epa-service-name"),
            user_sid: HeaderName::from_static("x-remote-user-sid"),
            groups: HeaderName::from_static("x-remote-groups"),
            binding: HeaderName::from_static("x-epa-binding"),
            assertion: HeaderName::from_static("x-epa-assertion"),
            cert_subject: HeaderName::from_static("x-client-cert-subject"),
            cert_sha256: HeaderName::from_static("x-client-cert-sha256"),
            forwarded: ForwardedMode::Replace,
            encoding: IdentityEncoding::Percent,
        }
    }
}

/// Removes hop-by-hop headers: those named in every `Connection` header, then the fixed list.
/// `upgrade`, when given, is then set as the only `Upgrade` with `Connection: upgrade` (an
/// authenticated upgrade to an allowed protocol being forwarded, or a 101 being answered).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(&name);
    }
    for name in HOP_BY_HOP_HEADERS {
        headers.remove(*name);
    }
    if let Some(u) = upgrade {
        headers.insert(header::UPGRADE, u);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Removes every `Authorization` header whose scheme is Negotiate or NTLM (any case): those
/// credentials were for this server. Other schemes (Bearer, Basic) go to the application.
pub fn remove_windows_authorization(headers: &mut HeaderMap) {
    let keep: Vec<HeaderValue> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter(|v| !is_windows_scheme(v.as_bytes()))
        .cloned()
        .collect();
    headers.remove(header::AUTHORIZATION);
    for v in keep {
        headers.append(header::AUTHORIZATION, v);
    }
}

fn is_windows_scheme(value: &[u8]) -> bool {
    let scheme = value
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .map_or(value, |i| &value[..i]);
    scheme.eq_ignore_ascii_case(b"negotiate") || scheme.eq_ignore_ascii_case(b"ntlm")
}

/// A value for an identity header: refused when a header cannot carry it exactly (control
/// characters, DEL, or whitespace at either end, which parsers would trim). Non-ASCII text is
/// written as `encoding` says (percent-encoded UTF-8 by default, [`IdentityEncoding`]).
fn identity_value(
    name: &HeaderName,
    text: &str,
    encoding: IdentityEncoding,
) -> Result<HeaderValue, IdentityValueError> {
    let err = || IdentityValueError {
        header: name.clone(),
    };
    if text.is_empty() || text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']) {
        return Err(err());
    }
    if text.chars().any(|c| c.is_control()) {
        return Err(err());
    }
    HeaderValue::from_bytes(encoding.encode(text).as_bytes()).map_err(|_| err())
}

/// Drops every request header whose name contains `_` (nginx `underscores_in_headers off`):
/// CGI, WSGI, Rack and PHP give `X_Remote_User` and `X-Remote-User` one variable, so a client
/// copy would sit beside (or before) ours. With `allow`, only the spellings of reserved,
/// forwarding and identity names are dropped. Returns how many were dropped.
pub fn drop_underscore_headers(
    headers: &mut HeaderMap,
    names: &IdentityHeaders,
    allow: bool,
) -> usize {
    let identity: Vec<&str> = names.all().iter().map(|n| n.as_str()).collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().contains('_'))
        .filter(|n| !allow || underscore_spelling_of_reserved(n.as_str(), &identity))
        .cloned()
        .collect();
    let mut dropped = 0;
    for name in doomed {
        dropped += headers.get_all(&name).iter().count();
        tracing::debug!(
            reason = "underscore-header",
            header = %epa_hyper::telemetry::ClientText(name.as_str()),
            "proxy: dropped a request header spelt with '_'"
        );
        headers.remove(&name);
    }
    if dropped > 0 {
        metrics::counter!(DROPPED_HEADERS_TOTAL, "reason" => "underscore")
            .increment(dropped as u64);
    }
    dropped
}

/// What the proxy knows of one request, for its headers.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The connection's facts (peer address, transport).
    pub facts: &'a ChannelFacts,
    /// The authenticated caller, if the route authenticated one.
    pub user: Option<&'a Authenticated>,
    /// The client certificate, only when it is valid.
    pub certificate: Option<&'a ClientCertificate>,
    /// The peer is one of `[listener] trusted_proxies`: under `forwarded = "append"` its
    /// forwarding headers are kept.
    pub trusted_proxy: bool,
}

/// What the proxy decided about a request before its headers are rewritten.
#[derive(Debug, Clone, Default)]
pub struct RequestRules {
    /// The `Upgrade` to forward (only allowed protocols), with `Connection: upgrade`.
    pub upgrade: Option<HeaderValue>,
    /// `[upstream] allow_underscores_in_headers`.
    pub allow_underscores: bool,
}

/// The identity headers of one login, with their values: made once per login and reused on
/// its keep-alive requests (`crate::proxy::forward`). `Err` when a value cannot be carried
/// exactly (the request is refused, never forwarded with an altered identity).
pub fn identity_values(
    names: &IdentityHeaders,
    user: &Authenticated,
) -> Result<Vec<(HeaderName, HeaderValue)>, IdentityValueError> {
    let mut out = Vec::with_capacity(8);
    let mut set = |name: &HeaderName, text: &str| -> Result<(), IdentityValueError> {
        out.push((name.clone(), identity_value(name, text, names.encoding)?));
        Ok(())
    };
    let id = &user.identity;
    let who = if id.domain.is_empty() {
        id.user.clone()
    } else {
        format!("{}\\{}", id.domain, id.user)
    };
    set(&names.user, &who)?;
    // The principal as the ticket or the AUTHENTICATE wrote it (`erin@EPA.TEST`), beside
    // the one name per account above (`EPA\erin`).
    set(&names.principal, &id.principal)?;
    if !id.domain.is_empty() {
        set(&names.domain, &id.domain)?;
    }
    set(&names.mechanism, user.mechanism.name())?;
    if let ClientServiceName::Value(spn) = &user.service_name
        && !spn.is_empty()
    {
        set(&names.service_name, spn)?;
    }
    if let Some(sid) = &user.user_sid {
        set(&names.user_sid, &sid.to_string())?;
    }
    if !user.groups.is_empty() {
        let list: Vec<String> = user.groups.iter().map(ToString::to_string).collect();
        set(&names.groups, &list.join(","))?;
    }
    // The binding verdict, for an upstream that verifies no assertion.
    set(&names.binding, user.reason.code())?;
    Ok(out)
}

/// Rewrites `headers` for the upstream: names with `_` dropped, hop-by-hop and Windows
/// credentials removed, every client copy of every identity header removed, ours set,
/// forwarding headers written.
pub fn prepare_request(
    headers: &mut HeaderMap,
    names: &IdentityHeaders,
    origin: Origin<'_>,
    rules: &RequestRules,
) -> Result<(), IdentityValueError> {
    let identity = match origin.user {
        Some(user) => identity_values(names, user)?,
        None => Vec::new(),
    };
    prepare_request_with(headers, names, origin, rules, &identity)
}

/// [`prepare_request`] with the login's identity headers already made ([`identity_values`];
/// empty for an anonymous request).
pub fn prepare_request_with(
    headers: &mut HeaderMap,
    names: &IdentityHeaders,
    origin: Origin<'_>,
    rules: &RequestRules,
    identity: &[(HeaderName, HeaderValue)],
) -> Result<(), IdentityValueError> {
    drop_underscore_headers(headers, names, rules.allow_underscores);
    remove_hop_by_hop(headers, rules.upgrade.clone());
    remove_windows_authorization(headers);
    for name in names.all() {
        // `remove` takes every value of the name; HeaderMap names are case-insensitive.
        headers.remove(name);
    }
    for (name, value) in identity {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(cert) = origin.certificate {
        let mut set = |name: &HeaderName, text: &str| -> Result<(), IdentityValueError> {
            headers.insert(name.clone(), identity_value(name, text, names.encoding)?);
            Ok(())
        };
        set(&names.cert_subject, &cert.subject)?;
        set(&names.cert_sha256, &cert.fingerprint())?;
    }
    // Client claims are kept only from a trusted proxy (RFC 7239 §8.1: only trusted hops).
    let mode = match names.forwarded {
        ForwardedMode::Append if origin.trusted_proxy => ForwardedMode::Append,
        _ => ForwardedMode::Replace,
    };
    forwarding(headers, mode, origin.facts);
    Ok(())
}

/// `Forwarded` (RFC 7239 §4: `for` quoted when IPv6, `proto`, `host` when it is a plain
/// authority) and `X-Forwarded-For/-Proto/-Host`.
fn forwarding(headers: &mut HeaderMap, mode: ForwardedMode, facts: &ChannelFacts) {
    let ip = facts.peer.ip().to_canonical();
    let proto = match facts.transport {
        Transport::Https => "https",
        Transport::Http => "http",
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_authority(h))
        .map(str::to_owned);
    let for_ = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut element = format!("for={for_};proto={proto}");
    if let Some(h) = &host {
        element.push_str(&format!(";host=\"{h}\""));
    }
    let append = |headers: &mut HeaderMap, name: &'static str, ours: String, sep: &str| {
        let previous: Vec<String> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        headers.remove(name);
        let mut all = if mode == ForwardedMode::Append {
            previous
        } else {
            Vec::new()
        };
        all.push(ours);
        if let Ok(v) = HeaderValue::from_str(&all.join(sep)) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    append(headers, "forwarded", element, ", ");
    append(headers, "x-forwarded-for", ip.to_string(), ", ");
    for name in PATH_OVERRIDE_HEADERS {
        headers.remove(*name);
    }
    if mode == ForwardedMode::Replace {
        for name in CLIENT_ADDRESS_HEADERS
            .iter()
            .chain(FORWARDING_CLAIM_HEADERS)
        {
            headers.remove(*name);
        }
        if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
            headers.insert("x-real-ip", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    headers.remove("x-forwarded-host");
    if let Some(h) = host
        && let Ok(v) = HeaderValue::from_str(&h)
    {
        headers.insert("x-forwarded-host", v);
    }
}

/// A Host value safe inside a quoted string: RFC 3986 reg-name / IP literal and port characters.
fn is_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_~:[]!$&'()*+,;=%".contains(&b))
}

/// Removes hop-by-hop headers from the upstream's response (keeps `Upgrade` on a 101), and
/// `Content-Length` when `Transfer-Encoding` is present (RFC 9112 §6.3: the transfer coding
/// decides the length; hyper has decoded it, and a kept `Content-Length` would frame the
/// re-sent body by the wrong number).
pub fn prepare_response(headers: &mut HeaderMap, switching: bool) {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    let upgrade = switching
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    remove_hop_by_hop(headers, upgrade);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use epa_core::authenticator::Identity;
    use epa_core::decide::{Mechanism, Reason};

    fn facts() -> ChannelFacts {
        ChannelFacts::plain("[::ffff:10.0.0.7]:5000".parse().unwrap())
    }

    fn user(user: &str) -> Authenticated {
        Authenticated {
            identity: Identity::ntlm("EPA", user),
            mechanism: Mechanism::Ntlm,
            service_name: ClientServiceName::Value("HTTP/web".into()),
            reason: Reason::BindingVerified,
            user_sid: None,
            groups: Vec::new(),
            group_names: Vec::new(),
        }
    }

    #[test]
    fn a_kerberos_principal_has_its_own_header_beside_the_account_name() {
        // Issue #20 item 14: one name per account in X-Remote-User, the principal beside it.
        let mut u = user("erin");
        u.identity.principal = "erin@EPA.TEST".into();
        u.mechanism = Mechanism::Kerberos;
        let mut h = HeaderMap::new();
        let origin = Origin {
            facts: &facts(),
            user: Some(&u),
            certificate: None,
            trusted_proxy: false,
        };
        prepare_request(
            &mut h,
            &IdentityHeaders::default(),
            origin,
            &RequestRules::default(),
        )
        .unwrap();
        assert_eq!(h["x-remote-user"], "EPA\\erin");
        assert_eq!(h["x-remote-principal"], "erin@EPA.TEST");
    }

    /// Renaming the assertion header still removes the client's copies of the default name
    /// (found in review: an application mid-migration would have read a forged one).
    #[test]
    fn a_renamed_assertion_header_still_removes_the_default_name() {
        let names = IdentityHeaders::default()
            .with_assertion_header(HeaderName::from_static("x-app-assertion"));
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-epa-assertion", "forged.by.client"),
            ("X-EPA-Assertion", "forged.again"),
            ("x-app-assertion", "forged.too"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let origin = Origin {
            facts: &facts(),
            user: None,
            certificate: None,
            trusted_proxy: false,
        };
        prepare_request(&mut h, &names, origin, &RequestRules::default()).unwrap();
        assert!(h.get("x-epa-assertion").is_none() && h.get("x-app-assertion").is_none());
    }

    #[test]
    fn spoofed_identity_and_hop_by_hop_removed() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-remote-user", "EPA\\admin"),
            ("X-REMOTE-USER", "EPA\\root"),
            ("x-remote-principal", "root@EPA.TEST"),
            ("x-remote-domain", "EVIL"),
            ("x-remote-user-sid", "S-1-5-21-1-2-3-500"),
            ("X-Remote-Groups", "S-1-5-32-544"),
            ("x-client-cert-subject", "CN=admin"),
            ("x-client-cert-sha256", "00"),
            ("authorization", "NTLM TlRMTVNTUAAB"),
            ("authorization", "negotiate YIIB"),
            ("authorization", "Bearer app-token"),
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "hop"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("host", "web.example:443"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("X-Real-IP", "5.6.7.8"),
            ("true-client-ip", "1.2.3.4"),
            ("cf-connecting-ip", "1.2.3.4"),
            ("x-client-ip", "1.2.3.4"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-ssl", "on"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let u = user("alice");
        let origin = Origin {
            facts: &facts(),
            user: Some(&u),
            certificate: None,
            trusted_proxy: false,
        };
        prepare_request(
            &mut h,
            &IdentityHeaders::default(),
            origin,
            &RequestRules::default(),
        )
        .unwrap();
        let all = |k: &str| {
            h.get_all(k)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-remote-user"), ["EPA\\alice"]);
        assert_eq!(all("x-remote-principal"), ["EPA\\alice"]);
        assert_eq!(all("x-remote-domain"), ["EPA"]);
        // The backend reported no SID and no groups: the client's claims are gone, none added.
        assert!(all("x-remote-user-sid").is_empty());
        assert!(all("x-remote-groups").is_empty());
        assert_eq!(all("x-auth-mechanism"), ["ntlm"]);
        assert_eq!(all("x-epa-service-name"), ["HTTP/web"]);
        assert!(all("x-client-cert-subject").is_empty() && all("x-client-cert-sha256").is_empty());
        assert_eq!(all("authorization"), ["Bearer app-token"]);
        for gone in [
            "connection",
            "x-secret",
            "te",
            "upgrade",
            "proxy-authorization",
        ] {
            assert!(all(gone).is_empty(), "{gone}");
        }
        assert_eq!(
            all("forwarded"),
            ["for=10.0.0.7;proto=http;host=\"web.example:443\""]
        );
        assert_eq!(all("x-forwarded-for"), ["10.0.0.7"]);
        assert_eq!(all("x-forwarded-host"), ["web.example:443"]);
        assert_eq!(all("x-real-ip"), ["10.0.0.7"]);
        for gone in CLIENT_ADDRESS_HEADERS
            .iter()
            .chain(FORWARDING_CLAIM_HEADERS)
            .chain(PATH_OVERRIDE_HEADERS)
            .filter(|n| **n != "x-real-ip")
        {
            assert!(all(gone).is_empty(), "{gone}");
        }
    }

    #[test]
    fn anonymous_requests_carry_no_identity_and_ipv6_is_quoted() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("EPA\\admin"));
        let f = ChannelFacts::plain("[2001:db8::1]:443".parse().unwrap());
        let names = IdentityHeaders {
            forwarded: ForwardedMode::Append,
            ..Default::default()
        };
        h.insert("forwarded", HeaderValue::from_static("for=192.0.2.1"));
        h.insert("x-real-ip", HeaderValue::from_static("192.0.2.1"));
        h.insert("x-original-url", HeaderValue::from_static("/admin"));
        prepare_request(
            &mut h,
            &names,
            Origin {
                facts: &f,
                user: None,
                certificate: None,
                trusted_proxy: true,
            },
            &RequestRules::default(),
        )
        .unwrap();
        assert!(h.get("x-remote-user").is_none());
        assert_eq!(
            h["forwarded"],
            "for=192.0.2.1, for=\"[2001:db8::1]\";proto=http"
        );
        // Append: the trusted front proxy's X-Real-IP stays; a path override never does.
        assert_eq!(h["x-real-ip"], "192.0.2.1");
        assert!(h.get("x-original-url").is_none());
    }

    #[test]
    fn unsendable_identity_is_an_error_not_a_truncation() {
        for bad in [
            "al\r\nX-Remote-User: admin",
            "alice ",
            "al\u{7f}ice",
            "a\u{85}b",
        ] {
            let mut h = HeaderMap::new();
            let u = user(bad);
            let origin = Origin {
                facts: &facts(),
                user: Some(&u),
                certificate: None,
                trusted_proxy: false,
            };
            assert!(
                prepare_request(
                    &mut h,
                    &IdentityHeaders::default(),
                    origin,
                    &RequestRules::default()
                )
                .is_err(),
                "{bad:?}"
            );
        }
        let mut h = HeaderMap::new();
        let u = user("jürgen");
        let origin = Origin {
            facts: &facts(),
            user: Some(&u),
            certificate: None,
            trusted_proxy: false,
        };
        prepare_request(
            &mut h,
            &IdentityHeaders::default(),
            origin,
            &RequestRules::default(),
        )
        .unwrap();
        assert_eq!(h["x-remote-user"], "EPA\\j%C3%BCrgen");
    }

    #[test]
    fn upgrade_kept_only_when_asked() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert(
            "http2-settings",
            HeaderValue::from_static("AAMAAABkAAQAAP__"),
        );
        remove_hop_by_hop(&mut h, Some(HeaderValue::from_static("websocket")));
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(h.get("http2-settings").is_none());
    }

    #[test]
    fn transfer_encoding_wins_over_content_length_in_responses() {
        let mut h = HeaderMap::new();
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("content-length", HeaderValue::from_static("5"));
        prepare_response(&mut h, false);
        assert!(h.get("content-length").is_none() && h.get("transfer-encoding").is_none());
    }

    #[test]
    fn underscore_names_dropped_and_reserved_spellings_even_when_allowed() {
        let names = IdentityHeaders::default();
        let fill = || {
            let mut h = HeaderMap::new();
            for k in ["x_remote_user", "X_Forwarded_For", "x_app_token", "x-app"] {
                h.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            h
        };
        let mut h = fill();
        assert_eq!(drop_underscore_headers(&mut h, &names, false), 3);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-app"]);
        let mut h = fill();
        assert_eq!(drop_underscore_headers(&mut h, &names, true), 2);
        assert!(h.contains_key("x_app_token") && h.contains_key("x-app"));
    }

    #[test]
    fn append_keeps_claims_only_from_a_trusted_proxy() {
        let names = IdentityHeaders {
            forwarded: ForwardedMode::Append,
            ..Default::default()
        };
        for (trusted, want) in [(true, "203.0.113.9, 10.0.0.7"), (false, "10.0.0.7")] {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
            h.insert("true-client-ip", HeaderValue::from_static("203.0.113.9"));
            let origin = Origin {
                facts: &facts(),
                user: None,
                certificate: None,
                trusted_proxy: trusted,
            };
            prepare_request(&mut h, &names, origin, &RequestRules::default()).unwrap();
            assert_eq!(h["x-forwarded-for"], want);
            assert_eq!(h.contains_key("true-client-ip"), trusted);
        }
    }
}
