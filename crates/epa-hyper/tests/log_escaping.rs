//! Issue #11 item 11: client-chosen text in text logs is escaped and capped. Alone in its test
//! binary: `tracing` caches per callsite whether anyone listens, and a test running in parallel
//! without a subscriber would make this one's scoped subscriber miss the events.

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
use epa_hyper::{ChannelFacts, ConnectionContext, ExtendedProtectionLayer};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tower::{Layer as _, Service, ServiceExt as _};

const CERT: &[u8] = include_bytes!("../../../tests/data/rsa-sha256.der");

fn layer(pe: PolicyEnforcement, ps: ProtectionScenario) -> ExtendedProtectionLayer {
    let mut db = UserDb::default();
    db.add_password("D", "alice", "pw");
    let policy =
        ExtendedProtectionPolicy::with_service_names(pe, ps, ["HTTP/www.contoso.com"]).unwrap();
    let policy = ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .unwrap();
    ExtendedProtectionLayer::new(NtlmAcceptor::new(db, "D", "SRV"), policy)
}

type Svc = epa_hyper::ExtendedProtection<
    tower::util::ServiceFn<
        fn(Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>>,
    >,
>;

fn service(l: &ExtendedProtectionLayer) -> Svc {
    fn ok(_: Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>> {
        std::future::ready(Ok(Response::new(String::new())))
    }
    l.layer(tower::service_fn(ok as fn(_) -> _))
}

async fn send(svc: &mut Svc, ctx: &ConnectionContext, auth: &str) -> Response<String> {
    let mut req = Request::get("/")
        .header("authorization", auth)
        .body(String::new())
        .unwrap();
    req.extensions_mut().insert(ctx.clone());
    svc.ready().await.unwrap().call(req).await.unwrap()
}

async fn login(svc: &mut Svc, ctx: &ConnectionContext, mut client: NtlmClient) -> Response<String> {
    let r = send(
        svc,
        ctx,
        &format!("NTLM {}", STANDARD.encode(client.negotiate())),
    )
    .await;
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let challenge = STANDARD.decode(www.strip_prefix("NTLM ").unwrap()).unwrap();
    let auth = client.authenticate(&challenge).unwrap();
    send(svc, ctx, &format!("NTLM {}", STANDARD.encode(auth))).await
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

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn client_chosen_text_is_escaped_and_capped_in_text_logs() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let l = layer(
                PolicyEnforcement::WhenSupported,
                ProtectionScenario::TransportSelected,
            );
            let mut svc = service(&l);
            // An unknown user whose name forges a log line.
            let forged =
                "mallory\n2026-01-01T00:00:00Z INFO epa: decision=\"accept\" principal=D\\admin";
            let client =
                NtlmClient::new("D", forged, "pw").binding(ClientBinding::Hash(cert_md5()));
            let r = login(&mut svc, &https(), client).await;
            assert_ne!(r.status(), StatusCode::OK);
            // A known user naming a hostile, very long SPN.
            let spn = format!("HTTP/\u{1b}[31m{}", "x".repeat(20_000));
            let client = NtlmClient::new("D", "alice", "pw")
                .binding(ClientBinding::Hash(cert_md5()))
                .target_name(Some(&spn));
            // The binding matches, so the SPN is not checked: an accept, whose event names it.
            let r = login(&mut svc, &https(), client).await;
            assert_eq!(r.status(), StatusCode::OK);
        });
    });
    let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-01-01T00:00:00Z"),
            "a forged line made it into the log on its own: {line}"
        );
        assert!(!line.contains('\u{1b}'), "raw escape in the log: {line}");
        assert!(line.len() < 4096, "a log line of {} bytes", line.len());
    }
    assert!(
        log.contains("mallory\\n"),
        "the name is still visible, escaped: {log}"
    );
    assert!(log.contains("chars)"), "the long SPN was not capped: {log}");
}
