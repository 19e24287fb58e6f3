//! The layer driven directly (no sockets): connection context, HTTP version, trusted proxies,
//! leg limits, the proxy-certificate extension, and per-connection isolation.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa_core::decide::Profile;
use epa_core::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};
use epa_hyper::ntlm::client::{ClientBinding, NtlmClient};
use epa_hyper::ntlm::{NtlmAcceptor, UserDb};
use epa_hyper::{
    AuthenticatedUser, ChannelFacts, ConnectionContext, ExtendedProtectionLayer, Limits,
};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use tower::{Layer as _, Service as _, ServiceExt as _};

const CERT: &[u8] = include_bytes!("../../../tests/data/rsa-sha256.der");

fn layer(pe: PolicyEnforcement, ps: ProtectionScenario) -> ExtendedProtectionLayer {
    let mut users = UserDb::default();
    users.add_password("D", "alice", "pw");
    users.add_password("D", "bob", "pw2");
    let policy =
        ExtendedProtectionPolicy::with_service_names(pe, ps, ["HTTP/www.contoso.com"]).unwrap();
    let policy = ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .unwrap();
    ExtendedProtectionLayer::new(NtlmAcceptor::new(users, "D", "SRV"), policy)
}

async fn app(req: Request<String>) -> Result<Response<String>, Infallible> {
    let who = req
        .extensions()
        .get::<AuthenticatedUser>()
        .map(|u| u.identity.to_string())
        .unwrap_or_default();
    Ok(Response::new(who))
}

fn request(ctx: Option<&ConnectionContext>, auth: Option<String>) -> Request<String> {
    let mut b = Request::get("/");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let mut req = b.body(String::new()).unwrap();
    if let Some(c) = ctx {
        req.extensions_mut().insert(c.clone());
    }
    req
}

type Svc = epa_hyper::ExtendedProtection<
    tower::util::ServiceFn<
        fn(
            Request<String>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Response<String>, Infallible>> + Send>,
        >,
    >,
>;

fn service(l: &ExtendedProtectionLayer) -> Svc {
    fn boxed(
        r: Request<String>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<String>, Infallible>> + Send>,
    > {
        Box::pin(app(r))
    }
    l.layer(tower::service_fn(boxed as fn(_) -> _))
}

/// Runs the NTLM exchange on `ctx`; returns the final response.
async fn exchange(svc: &mut Svc, ctx: &ConnectionContext, client: NtlmClient) -> Response<String> {
    let mut client = client;
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(
            Some(ctx),
            Some(format!("NTLM {}", STANDARD.encode(client.negotiate()))),
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let challenge = STANDARD.decode(www.strip_prefix("NTLM ").unwrap()).unwrap();
    let auth = client.authenticate(&challenge).unwrap();
    svc.ready()
        .await
        .unwrap()
        .call(request(
            Some(ctx),
            Some(format!("NTLM {}", STANDARD.encode(auth))),
        ))
        .await
        .unwrap()
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

#[tokio::test]
async fn no_connection_context_is_500_never_a_guess() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let r = service(&l).oneshot(request(None, None)).await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn anonymous_request_gets_both_challenges_and_an_empty_401() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let r = service(&l)
        .oneshot(request(Some(&https()), None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(challenges, ["Negotiate", "NTLM"]);
    assert_eq!(r.headers()["content-length"], "0");
    assert!(r.body().is_empty());
}

#[tokio::test]
async fn http2_requests_are_refused() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let mut req = request(Some(&https()), None);
    *req.version_mut() = http::Version::HTTP_2;
    let r = service(&l).oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
}

#[tokio::test]
async fn binding_match_authenticates_and_the_connection_stays_authenticated() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let mut svc = service(&l);
    let ctx = https();
    let r = exchange(
        &mut svc,
        &ctx,
        NtlmClient::new("D", "alice", "pw").binding(ClientBinding::Hash(cert_md5())),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "D\\alice");
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(Some(&ctx), None))
        .await
        .unwrap();
    assert_eq!(r.body(), "D\\alice");
    // Another connection does not share it.
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(Some(&https()), None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn authenticate_every_request_forgets_the_connection() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    )
    .authenticate_every_request();
    let mut svc = service(&l);
    let ctx = https();
    let r = exchange(
        &mut svc,
        &ctx,
        NtlmClient::new("D", "alice", "pw").binding(ClientBinding::Hash(cert_md5())),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(Some(&ctx), None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn mismatch_is_refused_with_fresh_challenges() {
    let l = layer(
        PolicyEnforcement::WhenSupported,
        ProtectionScenario::TransportSelected,
    );
    let mut svc = service(&l);
    let r = exchange(
        &mut svc,
        &https(),
        NtlmClient::new("D", "alice", "pw").binding(ClientBinding::Hash([1; 16])),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers().get_all("www-authenticate").iter().count(), 2);
    assert!(r.body().is_empty());
}

#[tokio::test]
async fn trusted_proxy_refuses_other_peers_and_checks_the_proxy_certificate() {
    let l = layer(PolicyEnforcement::Always, ProtectionScenario::TrustedProxy)
        .trusted_proxies(vec!["10.9.9.9".parse().unwrap()]);
    let from_elsewhere =
        ConnectionContext::new(ChannelFacts::plain("127.0.0.1:5".parse().unwrap()));
    let r = service(&l)
        .oneshot(request(Some(&from_elsewhere), None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let proxy = || ConnectionContext::new(ChannelFacts::plain("10.9.9.9:5".parse().unwrap()));
    // Without the proxy certificate: any non-zero binding passes (IIS Proxy semantics).
    let mut svc = service(&l);
    let client = |b| {
        NtlmClient::new("D", "alice", "pw")
            .binding(b)
            .target_name(Some("HTTP/www.contoso.com"))
    };
    let r = exchange(&mut svc, &proxy(), client(ClientBinding::Hash([1; 16]))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = exchange(&mut svc, &proxy(), client(ClientBinding::Unbound)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // With it: the binding must be the proxy certificate's.
    let l = l.proxy_certificate(CERT).unwrap();
    let mut svc = service(&l);
    let r = exchange(&mut svc, &proxy(), client(ClientBinding::Hash([1; 16]))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = exchange(&mut svc, &proxy(), client(ClientBinding::Hash(cert_md5()))).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn too_many_legs_reset_the_exchange() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    )
    .limits(Limits {
        max_legs: 1,
        ..Limits::default()
    });
    let mut svc = service(&l);
    let ctx = https();
    let r = exchange(
        &mut svc,
        &ctx,
        NtlmClient::new("D", "alice", "pw").binding(ClientBinding::Hash(cert_md5())),
    )
    .await;
    // The second leg exceeds the limit: fresh challenges, not a success.
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers().get_all("www-authenticate").iter().count(), 2);
}

#[tokio::test]
async fn oversize_and_duplicate_authorization_headers_are_400() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    )
    .limits(Limits {
        max_header_bytes: 100,
        ..Limits::default()
    });
    let r = service(&l)
        .oneshot(request(
            Some(&https()),
            Some(format!("NTLM {}", "A".repeat(200))),
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut req = request(Some(&https()), Some("NTLM TlRMTVNTUAAB".into()));
    req.headers_mut()
        .append("authorization", "NTLM TlRMTVNTUAAB".parse().unwrap());
    let r = service(&l).oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn failed_logons_are_throttled_per_peer_address_through_the_layer() {
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    );
    let mut svc = service(&l);
    let from = |peer: &str| {
        ConnectionContext::new(ChannelFacts::tls(peer.parse().unwrap(), CERT, None).unwrap())
    };
    let client = |user: &str, pw: &str| {
        NtlmClient::new("D", user, pw)
            .binding(ClientBinding::Hash(cert_md5()))
            .target_name(Some("HTTP/www.contoso.com"))
    };
    // Ten wrong passwords (unknown accounts: the address rule) from an IPv4-mapped IPv6 peer…
    for i in 0..10 {
        let r = exchange(
            &mut svc,
            &from("[::ffff:192.0.2.1]:1000"),
            client(&format!("u{i}"), "x"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // …cool down the same client on its IPv4 spelling: the right password is refused.
    let r = exchange(&mut svc, &from("192.0.2.1:2000"), client("alice", "pw")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    // Another client logs on.
    let r = exchange(&mut svc, &from("192.0.2.2:2000"), client("alice", "pw")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "D\\alice");
}

/// A verifier whose domain controller is away.
struct DcDown;

impl epa_hyper::ntlm::CredentialVerifier for DcDown {
    fn verify(
        &self,
        _: &epa_hyper::ntlm::NetworkLogon<'_>,
    ) -> Result<epa_hyper::ntlm::VerifiedLogon, epa_hyper::ntlm::LogonError> {
        Err(epa_hyper::ntlm::LogonError::Unavailable(
            "no logon servers".into(),
        ))
    }
    fn retry_after_secs(&self) -> u32 {
        9
    }
}

#[tokio::test]
async fn an_unreachable_domain_controller_is_503_with_retry_after_never_401() {
    let policy = ExtendedProtectionPolicy::with_service_names(
        PolicyEnforcement::WhenSupported,
        ProtectionScenario::TransportSelected,
        ["HTTP/www.contoso.com"],
    )
    .unwrap();
    let policy = ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .unwrap();
    let l = ExtendedProtectionLayer::new(NtlmAcceptor::with_verifier(DcDown, "D", "SRV"), policy);
    let mut svc = service(&l);
    let ctx = https();
    let r = exchange(&mut svc, &ctx, NtlmClient::new("D", "alice", "pw")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "9");
    assert!(r.headers().get("www-authenticate").is_none());
    assert!(r.extensions().get::<AuthenticatedUser>().is_none());
    assert_eq!(r.body(), "", "the application was never called");
}

/// Runs the NTLM exchange on `ctx` with `X-Forwarded-For: xff` on both legs.
async fn exchange_forwarded(
    svc: &mut Svc,
    ctx: &ConnectionContext,
    client: NtlmClient,
    xff: &str,
) -> Response<String> {
    let mut client = client;
    let with_xff = |auth: String| {
        let mut req = request(Some(ctx), Some(auth));
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
        req
    };
    let first = format!("NTLM {}", STANDARD.encode(client.negotiate()));
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(with_xff(first))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let challenge = STANDARD.decode(www.strip_prefix("NTLM ").unwrap()).unwrap();
    let auth = format!(
        "NTLM {}",
        STANDARD.encode(client.authenticate(&challenge).unwrap())
    );
    svc.ready()
        .await
        .unwrap()
        .call(with_xff(auth))
        .await
        .unwrap()
}

/// Behind a trusted proxy every client has the proxy's address: failed logons are counted
/// against the address the proxy appended to X-Forwarded-For, so one client's guesses do not
/// lock out the others (#20 item 3); a peer that is not a trusted proxy cannot choose its
/// address that way.
#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_against_the_forwarded_client() {
    let l = layer(PolicyEnforcement::Always, ProtectionScenario::TrustedProxy)
        .trusted_proxies(vec!["10.9.9.9".parse().unwrap()]);
    let mut svc = service(&l);
    let proxy = || ConnectionContext::new(ChannelFacts::plain("10.9.9.9:5".parse().unwrap()));
    let client = |user: &str, pw: &str| {
        NtlmClient::new("D", user, pw)
            .binding(ClientBinding::Hash([1; 16]))
            .target_name(Some("HTTP/www.contoso.com"))
    };
    for i in 0..10 {
        let r = exchange_forwarded(
            &mut svc,
            &proxy(),
            client(&format!("u{i}"), "x"),
            "198.51.100.1, 203.0.113.1",
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The guessing client is cooling down, even with the right password…
    let r = exchange_forwarded(&mut svc, &proxy(), client("alice", "pw"), "203.0.113.1").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // …another client of the same proxy is not.
    let r = exchange_forwarded(&mut svc, &proxy(), client("alice", "pw"), "203.0.113.2").await;
    assert_eq!(r.status(), StatusCode::OK);

    // A peer that is no trusted proxy: its X-Forwarded-For is not read.
    let l = layer(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
    )
    .trusted_proxies(vec!["10.9.9.9".parse().unwrap()]);
    let mut svc = service(&l);
    let direct = || {
        ConnectionContext::new(
            ChannelFacts::tls("192.0.2.7:5".parse().unwrap(), CERT, None).unwrap(),
        )
    };
    let bound = |user: &str, pw: &str| {
        NtlmClient::new("D", user, pw)
            .binding(ClientBinding::Hash(cert_md5()))
            .target_name(Some("HTTP/www.contoso.com"))
    };
    for i in 0..10 {
        let xff = format!("203.0.113.{i}");
        let r = exchange_forwarded(&mut svc, &direct(), bound(&format!("u{i}"), "x"), &xff).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = exchange_forwarded(&mut svc, &direct(), bound("alice", "pw"), "203.0.113.99").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// `mechanisms = ["kerberos"]` on the layer (issue #22): only `Negotiate` is offered, and an
/// NTLM first leg — `NTLM` scheme or raw NTLMSSP in `Negotiate` — is answered with the bare
/// challenge, never an NTLM CHALLENGE (no exchange starts, no password is checked). The same
/// layer with NTLM accepted completes the exchange.
#[tokio::test]
async fn a_kerberos_only_layer_offers_negotiate_and_starts_no_ntlm_exchange() {
    use epa_core::decide::Mechanisms;
    let with = |mechanisms| {
        let mut users = UserDb::default();
        users.add_password("D", "alice", "pw");
        let policy = ExtendedProtectionPolicy::with_service_names(
            PolicyEnforcement::Always,
            ProtectionScenario::TransportSelected,
            ["HTTP/www.contoso.com"],
        )
        .unwrap();
        let policy = ServerPolicy::new(
            policy,
            &ServiceNameCollection::default(),
            Profile::Documented,
        )
        .unwrap()
        .with_mechanisms(mechanisms);
        ExtendedProtectionLayer::new(NtlmAcceptor::new(users, "D", "SRV"), policy)
    };
    let challenges = |r: &Response<String>| -> Vec<String> {
        r.headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let only = with(Mechanisms::KERBEROS);
    let ctx = https();
    let r = service(&only)
        .oneshot(request(Some(&ctx), None))
        .await
        .unwrap();
    assert_eq!(challenges(&r), ["Negotiate"]);
    let client = || NtlmClient::new("D", "alice", "pw").binding(ClientBinding::Hash(cert_md5()));
    for scheme in ["NTLM", "Negotiate"] {
        let negotiate = STANDARD.encode(client().negotiate());
        let r = service(&only)
            .oneshot(request(Some(&ctx), Some(format!("{scheme} {negotiate}"))))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{scheme}");
        assert_eq!(
            challenges(&r),
            ["Negotiate"],
            "{scheme}: no CHALLENGE token"
        );
    }
    let both = with(Mechanisms::ALL);
    let r = exchange(&mut service(&both), &https(), client()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), "D\\alice");
}
