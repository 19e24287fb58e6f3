//! Security regressions around connection state (issue #11 items 1, 5, 11 and "Also"): state
//! belongs to the layer that made it, headers that do not complete an exchange clear the
//! identity, per-request authentication behind a trusted proxy, IPv4-mapped proxy addresses, a
//! hand-built HTTPS connection without a certificate. (Client text in logs: `log_escaping.rs`, a
//! process of its own so that no other test registers the log callsites first.)

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa_core::decide::Profile;
use epa_core::decide::Transport;
use epa_core::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};
use epa_hyper::ntlm::client::{ClientBinding, NtlmClient};
use epa_hyper::ntlm::{NtlmAcceptor, UserDb};
use epa_hyper::{AuthenticatedUser, ChannelFacts, ConnectionContext, ExtendedProtectionLayer};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use tower::{Layer as _, Service, ServiceExt as _};

const CERT: &[u8] = include_bytes!("../../../tests/data/rsa-sha256.der");
const SPN: &str = "HTTP/www.contoso.com";

fn layer_with(
    pe: PolicyEnforcement,
    ps: ProtectionScenario,
    users: &[(&str, &str)],
) -> ExtendedProtectionLayer {
    let mut db = UserDb::default();
    for (user, password) in users {
        db.add_password("D", user, password);
    }
    let policy = match pe {
        // .NET's `Never` takes no names.
        PolicyEnforcement::Never => ExtendedProtectionPolicy::never(),
        _ => ExtendedProtectionPolicy::with_service_names(pe, ps, [SPN]).unwrap(),
    };
    let policy = ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .unwrap();
    ExtendedProtectionLayer::new(NtlmAcceptor::new(db, "D", "SRV"), policy)
}

fn layer(pe: PolicyEnforcement, ps: ProtectionScenario) -> ExtendedProtectionLayer {
    layer_with(pe, ps, &[("alice", "pw")])
}

async fn whoami(req: Request<String>) -> Result<Response<String>, Infallible> {
    let who = req
        .extensions()
        .get::<AuthenticatedUser>()
        .map(|u| u.identity.to_string())
        .unwrap_or_default();
    Ok(Response::new(who))
}

type App = tower::util::ServiceFn<
    fn(
        Request<String>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<String>, Infallible>> + Send>,
    >,
>;
type Svc = epa_hyper::ExtendedProtection<App>;

fn service(l: &ExtendedProtectionLayer) -> Svc {
    fn boxed(
        r: Request<String>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<String>, Infallible>> + Send>,
    > {
        Box::pin(whoami(r))
    }
    l.layer(tower::service_fn(boxed as fn(_) -> _))
}

async fn send(svc: &mut Svc, ctx: &ConnectionContext, auth: Option<&str>) -> Response<String> {
    let mut b = Request::get("/");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let mut req = b.body(String::new()).unwrap();
    req.extensions_mut().insert(ctx.clone());
    svc.ready().await.unwrap().call(req).await.unwrap()
}

/// The NEGOTIATE leg on `svc`; returns the CHALLENGE.
async fn negotiate(svc: &mut Svc, ctx: &ConnectionContext, client: &mut NtlmClient) -> Vec<u8> {
    let r = send(
        svc,
        ctx,
        Some(&format!("NTLM {}", STANDARD.encode(client.negotiate()))),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    STANDARD.decode(www.strip_prefix("NTLM ").unwrap()).unwrap()
}

/// Both legs on `svc`; returns the final response.
async fn login(svc: &mut Svc, ctx: &ConnectionContext, mut client: NtlmClient) -> Response<String> {
    let challenge = negotiate(svc, ctx, &mut client).await;
    let auth = client.authenticate(&challenge).unwrap();
    send(svc, ctx, Some(&format!("NTLM {}", STANDARD.encode(auth)))).await
}

fn https() -> ConnectionContext {
    ConnectionContext::new(
        ChannelFacts::tls("127.0.0.1:1000".parse().unwrap(), CERT, None).unwrap(),
    )
}

fn cert_md5() -> [u8; 16] {
    epa_core::GssChannelBindings::from(&epa_core::tls_server_end_point(CERT).unwrap().binding)
        .md5()
        .unwrap()
        .0
}

fn alice(binding: ClientBinding) -> NtlmClient {
    NtlmClient::new("D", "alice", "pw")
        .binding(binding)
        .target_name(Some(SPN))
}

// ---- item 1: state belongs to the layer that made it ----

#[tokio::test]
async fn an_identity_from_a_lax_route_is_not_an_identity_on_a_strict_route() {
    let lax = layer(
        PolicyEnforcement::Never,
        ProtectionScenario::TransportSelected,
    );
    let strict = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let (mut lax, mut strict) = (service(&lax), service(&strict));
    let conn = https();
    // No binding at all: fine for `never`, refused by `always`.
    let r = login(&mut lax, &conn, alice(ClientBinding::Absent)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "D\\alice");
    let r = send(&mut strict, &conn, None).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the strict route served the lax route's identity"
    );
    assert!(r.body().is_empty());
    // The lax route still knows its own.
    let r = send(&mut lax, &conn, None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_exchange_started_on_one_layer_is_never_completed_by_another() {
    // Two user databases: the strict layer does not know alice at all.
    let a = layer_with(
        PolicyEnforcement::WhenSupported,
        ProtectionScenario::TransportSelected,
        &[("alice", "pw")],
    );
    let b = layer_with(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
        &[("bob", "pw2")],
    );
    let (mut a, mut b) = (service(&a), service(&b));
    let conn = https();
    let mut client = alice(ClientBinding::Hash(cert_md5()));
    let challenge = negotiate(&mut a, &conn, &mut client).await;
    let auth = client.authenticate(&challenge).unwrap();
    let r = send(
        &mut b,
        &conn,
        Some(&format!("NTLM {}", STANDARD.encode(auth))),
    )
    .await;
    assert_ne!(
        r.status(),
        StatusCode::OK,
        "layer B completed layer A's context"
    );
    assert!(r.body().is_empty(), "no identity may reach the app");
    let r = send(&mut b, &conn, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

// ---- item 5: headers that do not complete an exchange clear the identity ----

#[tokio::test]
async fn an_authorization_header_that_completes_nothing_clears_the_identity() {
    let cases: &[(&str, Vec<String>)] = &[
        ("basic", vec!["Basic YWxpY2U6cHc=".into()]),
        ("bad base64", vec!["NTLM !!!not-base64!!!".into()]),
        ("empty token", vec!["NTLM".into()]),
        ("empty header", vec![String::new()]),
        (
            "duplicate",
            vec!["NTLM TlRMTVNTUAAB".into(), "NTLM TlRMTVNTUAAB".into()],
        ),
        ("oversize", vec![format!("NTLM {}", "A".repeat(70 * 1024))]),
        ("garbage token", vec!["NTLM AAAA".into()]),
    ];
    for (name, headers) in cases {
        let l = layer(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
        );
        let mut svc = service(&l);
        let conn = https();
        let r = login(&mut svc, &conn, alice(ClientBinding::Hash(cert_md5()))).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let mut req = Request::get("/").body(String::new()).unwrap();
        for h in headers {
            req.headers_mut()
                .append("authorization", h.parse().unwrap());
        }
        req.extensions_mut().insert(conn.clone());
        let r = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_ne!(r.status(), StatusCode::OK, "{name}");
        assert!(r.body().is_empty(), "{name}");
        let r = send(&mut svc, &conn, None).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{name}: the identity survived a header that completed nothing"
        );
    }
}

// ---- item 5: per-request authentication behind a trusted proxy ----

#[tokio::test]
async fn behind_a_trusted_proxy_every_request_authenticates_by_default() {
    let proxy = || ConnectionContext::new(ChannelFacts::plain("10.9.9.9:5".parse().unwrap()));
    let l = layer(
        PolicyEnforcement::WhenSupported,
        ProtectionScenario::TrustedProxy,
    )
    .trusted_proxies(vec!["10.9.9.9".parse().unwrap()]);
    let mut svc = service(&l);
    let conn = proxy();
    let r = login(&mut svc, &conn, alice(ClientBinding::Hash([1; 16]))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(&mut svc, &conn, None).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a pooled proxy connection carried client A's identity to the next request"
    );

    // Persistence is an explicit choice.
    let mut svc = service(&l.clone().persist_identity(true));
    let conn = proxy();
    let r = login(&mut svc, &conn, alice(ClientBinding::Hash([1; 16]))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(&mut svc, &conn, None).await;
    assert_eq!(r.status(), StatusCode::OK);

    // And the direct case keeps IIS's connection-based default.
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let mut svc = service(&l);
    let conn = https();
    let r = login(&mut svc, &conn, alice(ClientBinding::Hash(cert_md5()))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(send(&mut svc, &conn, None).await.status(), StatusCode::OK);
}

// ---- "Also": IPv4-mapped proxy addresses ----

#[tokio::test]
async fn trusted_proxy_addresses_compare_after_unmapping_ipv4() {
    for (configured, peer) in [
        ("10.9.9.9", "[::ffff:10.9.9.9]:5"),
        ("::ffff:10.9.9.9", "10.9.9.9:5"),
    ] {
        let l = layer(
            PolicyEnforcement::WhenSupported,
            ProtectionScenario::TrustedProxy,
        )
        .trusted_proxies(vec![configured.parse().unwrap()]);
        let conn = ConnectionContext::new(ChannelFacts::plain(peer.parse().unwrap()));
        let r = send(&mut service(&l), &conn, None).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{configured} vs {peer}"
        );
    }
    let l = layer(
        PolicyEnforcement::WhenSupported,
        ProtectionScenario::TrustedProxy,
    )
    .trusted_proxies(vec!["10.9.9.9".parse().unwrap()]);
    let conn = ConnectionContext::new(ChannelFacts::plain("[::ffff:10.9.9.8]:5".parse().unwrap()));
    assert_eq!(
        send(&mut service(&l), &conn, None).await.status(),
        StatusCode::FORBIDDEN
    );
}

// ---- "Also": HTTPS without a server certificate is a configuration error ----

#[tokio::test]
async fn hand_built_https_facts_without_a_certificate_are_a_500() {
    for pe in [PolicyEnforcement::WhenSupported, PolicyEnforcement::Always] {
        let mut facts = ChannelFacts::plain("127.0.0.1:7".parse().unwrap());
        facts.transport = Transport::Https;
        let conn = ConnectionContext::new(facts);
        let mut svc = service(&layer(pe, ProtectionScenario::TransportSelected));
        let mut client = alice(ClientBinding::Hash(cert_md5()));
        let negotiate = format!("NTLM {}", STANDARD.encode(client.negotiate()));
        let r = send(&mut svc, &conn, Some(&negotiate)).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{pe:?}");
        assert!(r.body().is_empty());
    }
}
