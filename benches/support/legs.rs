//! The client side of the load benchmark: an HTTP/1.1 request, and the NTLM legs a browser
//! makes (anonymous request, NEGOTIATE, AUTHENTICATE carrying the channel binding).
//! (`#[path]`-included.)

use super::servers::Sender;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use http_body_util::{BodyExt as _, Empty};
use std::sync::Arc;

/// A client configuration that accepts the benchmark's self-signed certificate.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    Arc::new(
        epa::hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS)
            .expect("client config"),
    )
}

/// GET / with an optional Authorization header: the status and the WWW-Authenticate value.
pub async fn get(sender: &mut Sender, auth: Option<String>) -> (u16, Option<String>) {
    let mut req = http::Request::get("/").header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    sender.ready().await.expect("connection ready");
    let resp = sender
        .send_request(req.body(Empty::new()).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = resp.into_body().collect().await;
    (status, www)
}

/// NEGOTIATE then AUTHENTICATE carrying the binding; returns the final status.
pub async fn ntlm_legs(sender: &mut Sender, user: usize, binding: [u8; 16]) -> u16 {
    let mut client = NtlmClient::new("BENCH", &format!("user{user}"), "pw")
        .binding(ClientBinding::Hash(binding))
        .target_name(Some("HTTP/localhost"));
    let (_, www) = get(
        sender,
        Some(format!("NTLM {}", STANDARD.encode(client.negotiate()))),
    )
    .await;
    let challenge = STANDARD
        .decode(www.expect("challenge").trim_start_matches("NTLM "))
        .expect("base64");
    let auth = client.authenticate(&challenge).expect("authenticate");
    get(sender, Some(format!("NTLM {}", STANDARD.encode(auth))))
        .await
        .0
}

/// Anonymous request, NEGOTIATE, AUTHENTICATE: the three legs a browser makes.
pub async fn authenticate(sender: &mut Sender, user: usize, binding: [u8; 16]) {
    let (status, _) = get(sender, None).await;
    assert_eq!(status, 401);
    assert_eq!(ntlm_legs(sender, user, binding).await, 200);
}
