//! Any request head (method, target, `name: value` lines) through the proxy's first phases:
//! `check_target` (method and `Host`), the `Upgrade` allow-list and `prepare_request` for an
//! anonymous caller. Never a panic; an accepted request has exactly one valid `Host`; what
//! would reach the upstream carries no header spelt with `_`, no client copy of an identity,
//! path-override or hop-by-hop header, no `HTTP2-Settings`, and no `Upgrade` but `websocket`.
#![no_main]
use epa_hyper::ChannelFacts;
use epa_server::proxy::IdentityHeaders;
use epa_server::proxy::internal::{Origin, RequestRules, allowed_upgrade, check_target, prepare_request};
use http::{HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

/// Headers that never reach the upstream from an anonymous client.
const NEVER: &[&str] = &[
    "x-remote-user",
    "x-remote-principal",
    "x-remote-domain",
    "x-auth-mechanism",
    "x-epa-service-name",
    "x-remote-user-sid",
    "x-remote-groups",
    "x-client-cert-subject",
    "x-client-cert-sha256",
    "x-original-url",
    "x-rewrite-url",
    "http2-settings",
    "proxy-authorization",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
];

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let Some(first) = lines.next() else { return };
    let mut parts = first.splitn(2, |b| *b == b' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let Ok(builder) = std::str::from_utf8(target).map(|t| {
        Request::builder()
            .method(method)
            .uri(t)
            .version(http::Version::HTTP_11)
    }) else {
        return;
    };
    let Ok(mut req) = builder.body(()) else { return };
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            req.headers_mut().append(name, value);
        }
    }
    if check_target(&mut req).is_err() {
        return;
    }
    assert_eq!(req.headers().get_all(http::header::HOST).iter().count(), 1);

    let allowed = vec!["websocket".to_owned()];
    let upgrade = allowed_upgrade(req.headers(), &allowed);
    let facts = ChannelFacts::plain("127.0.0.1:1".parse().expect("an address"));
    let origin = Origin {
        facts: &facts,
        user: None,
        certificate: None,
        trusted_proxy: false,
    };
    let rules = RequestRules {
        upgrade,
        allow_underscores: false,
    };
    prepare_request(req.headers_mut(), &IdentityHeaders::default(), origin, &rules)
        .expect("an anonymous request has no identity to refuse");
    let headers = req.headers();
    for name in headers.keys() {
        assert!(!name.as_str().contains('_'), "{name} reached the upstream");
    }
    for name in NEVER {
        assert!(!headers.contains_key(*name), "{name} reached the upstream");
    }
    for value in headers.get_all(http::header::UPGRADE) {
        let text = value.to_str().expect("an upgrade we wrote is text");
        for token in text.split(',') {
            let name = token.trim().split('/').next().unwrap_or_default();
            assert!(name.eq_ignore_ascii_case("websocket"), "Upgrade: {text}");
        }
    }
});
