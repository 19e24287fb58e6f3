//! The layer's diagnosing mode in process, with a scripted backend: which results become a
//! report and which keep the layer's usual answer.

use super::*;
use base64::Engine as _;
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism};
use epa_hyper::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_hyper::{ChannelFacts, ConnectionContext};
use http::StatusCode;
use http_body_util::BodyExt as _;
use std::sync::Mutex;
use tower::ServiceExt as _;

const CERT: &[u8] = include_bytes!("../../../../tests/data/rsa-sha256.der");

/// A backend whose every leg returns the next scripted result.
struct Scripted(Arc<Mutex<Vec<Result<Step, AuthError>>>>);

struct ScriptedContext(Arc<Mutex<Vec<Result<Step, AuthError>>>>);

use std::sync::Arc;

impl SecurityContext for ScriptedContext {
    fn step(&mut self, _: &[u8], _: Option<&ExpectedBindings>) -> Result<Step, AuthError> {
        let mut script = self.0.lock().unwrap();
        if script.is_empty() {
            return Err(AuthError::InvalidToken("script exhausted".into()));
        }
        script.remove(0)
    }
}

impl Authenticator for Scripted {
    fn schemes(&self) -> &[Scheme] {
        &[Scheme::Negotiate]
    }
    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(ScriptedContext(self.0.clone()))
    }
}

fn kerberos(observation: BindingObservation) -> Step {
    Step::Complete(Completion {
        identity: Identity::kerberos("alice", "EXAMPLE.TEST"),
        mechanism: Mechanism::Kerberos,
        channel_binding: observation,
        client_spn: ClientServiceName::from_option(Some("HTTP/localhost@EXAMPLE.TEST")),
        supports_extended_protection: true,
        response_token: Some(b"ap-rep".to_vec()),
        user_sid: None,
        groups: Vec::new(),
        group_names: Vec::new(),
        session_enctype: None,
    })
}

/// One request with a Negotiate token through the page; the reply and its report.
async fn one(
    results: Vec<Result<Step, AuthError>>,
) -> (StatusCode, Option<Value>, http::HeaderMap) {
    let table: PolicyTable =
        toml::from_str("enforcement = \"always\"\nprefixes = [\"https://localhost/\"]").unwrap();
    let layer = ExtendedProtectionLayer::new(
        Scripted(Arc::new(Mutex::new(results))),
        table.build().unwrap(),
    );
    let svc = page(layer, DiagnosticsSettings::new(&table));
    let facts = ChannelFacts::tls(([127, 0, 0, 1], 9).into(), CERT, None).unwrap();
    let token = base64::engine::general_purpose::STANDARD.encode(b"\x60kerberos-ish");
    let req = Request::get("/_epa/diagnose?format=json")
        .header("authorization", format!("Negotiate {token}"))
        .extension(ConnectionContext::new(facts))
        .body(String::new())
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).ok(), headers)
}

use serde_json::Value;

#[tokio::test]
async fn a_bound_kerberos_login_is_reported_with_the_ap_rep() {
    let (status, report, headers) = one(vec![Ok(kerberos(BindingObservation::Match))]).await;
    assert_eq!(status, StatusCode::OK);
    let r = report.unwrap();
    assert_eq!(r["kerberos"]["channel_bound"], true);
    assert_eq!(r["outcome"]["accepted"], true);
    // Mutual authentication: the last token rides on the report.
    let expected = format!(
        "Negotiate {}",
        base64::engine::general_purpose::STANDARD.encode(b"ap-rep")
    );
    assert_eq!(headers["www-authenticate"], expected.as_str());
}

#[tokio::test]
async fn a_binding_refused_by_the_package_is_reported_without_a_token() {
    let (status, report, headers) = one(vec![Err(AuthError::BadBindings {
        mechanism: Mechanism::Kerberos,
        observation: BindingObservation::Mismatch,
    })])
    .await;
    assert_eq!(status, StatusCode::OK);
    let r = report.unwrap();
    assert_eq!(r["backend"], "refused-binding");
    assert_eq!(r["outcome"]["reason"], "binding-mismatch");
    assert!(r["user"].is_null());
    assert_eq!(r["table"].as_array().unwrap().len(), 20);
    assert!(!headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn the_usual_answers_stay_for_continuations_bad_tokens_and_an_absent_backend() {
    let (status, report, headers) = one(vec![Ok(Step::Continue(b"more".to_vec()))]).await;
    assert_eq!((status, report.is_none()), (StatusCode::UNAUTHORIZED, true));
    assert!(headers.contains_key("www-authenticate"));
    let (status, report, _) = one(vec![Err(AuthError::InvalidToken("x".into()))]).await;
    assert_eq!((status, report.is_none()), (StatusCode::BAD_REQUEST, true));
    let (status, report, _) = one(vec![Err(AuthError::Unavailable {
        reason: "dc down".into(),
        retry_after_secs: 5,
    })])
    .await;
    assert_eq!(
        (status, report.is_none()),
        (StatusCode::SERVICE_UNAVAILABLE, true)
    );
    let (status, report, _) = one(vec![Err(AuthError::LogonDenied(
        "backend-text for D\\alice".into(),
    ))])
    .await;
    assert_eq!(status, StatusCode::OK);
    let r = report.unwrap();
    assert_eq!(r["backend"], "refused-by-the-backend");
    // The backend's own text (which names the account) is not in the report.
    assert!(!r.to_string().contains("backend-text"), "{r}");
}
