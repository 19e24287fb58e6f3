//! The KDC proxy: `[kdc_proxy]`'s path answers the Kerberos KDC Proxy Protocol ([MS-KKDCP]),
//! before any authentication (the KDC authenticates the client; the proxy only carries bytes),
//! so that a client off the network still gets Kerberos tickets over HTTPS.
//!
//! A request is checked in this order, each refusal logged with its reason and counted
//! (`epa_kdc_proxy_requests_total{realm,outcome}`):
//!
//! | check | refusal |
//! |---|---|
//! | method is `POST` (what clients send; the Python kdcproxy answers 405 too) | 405, `Allow: POST` |
//! | `Content-Type`, when present, is `application/kerberos` (MIT sends it) | 415 |
//! | fewer than `max_in_flight` exchanges under way | 503 (`busy`) |
//! | `Content-Length` and the body at most `max_message_bytes` | 413, the body unread |
//! | the body within `body_timeout` | 408 |
//! | a DER KDC-PROXY-MESSAGE holding one framed AS-REQ or TGS-REQ and a `target-domain` | 400 |
//! | `target-domain` is a configured realm (ASCII case ignored, §2.2.2) | 503 (`unknown-realm`), no connection |
//! | a configured KDC answers in time, within `max_message_bytes` | 503 / 504 / 502 |
//!
//! The answer is 200 `application/kerberos` with the KDC's reply (an AS-REP, a TGS-REP or a
//! KRB-ERROR: the KDC's own refusals travel as Kerberos messages, as with a direct KDC).
//! Only the configured KDCs of the configured realms are ever contacted, over TCP; a realm is
//! never looked up in DNS and the client names no host.
//!
//! [MS-KKDCP]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-kkdcp/

mod forward;
pub mod message;

use crate::proxy::{BoxError, ProxyBody};
use epa_config::kdc_proxy::{KdcProxySettings, RealmSettings};
use epa_core::path::NormalizedPath;
use epa_hyper::telemetry::metrics::{KDC_PROXY_REQUESTS_TOTAL, KDC_PROXY_SECONDS};
use forward::{ForwardError, Limits};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use message::MessageError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The media type of both directions ([MS-KKDCP] §2.1).
const MEDIA_TYPE: &str = "application/kerberos";

/// The KDC proxy a `[kdc_proxy]` table describes. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KdcProxy {
    inner: Arc<Inner>,
}

struct Inner {
    settings: KdcProxySettings,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for KdcProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KdcProxy")
            .field("path", &self.inner.settings.path.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a request got no KDC reply.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("method {0} refused: POST only")]
    Method(http::Method),
    #[error("content type {0:?} refused: application/kerberos only")]
    ContentType(String),
    #[error("{0} exchanges under way already (max_in_flight)")]
    Busy(usize),
    #[error("request body over max_message_bytes ({0})")]
    TooLarge(usize),
    #[error("request body not read within {0:?} (body_timeout)")]
    BodyTimeout(Duration),
    #[error("request body broken: {0}")]
    Body(#[source] BoxError),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("realm {0:?} is not served here")]
    UnknownRealm(String),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error("the KDC's reply is not an AS-REP, TGS-REP or KRB-ERROR (first byte {0:#04x})")]
    NotAReply(u8),
    #[error("the reply cannot be encoded: {0}")]
    Encode(#[from] der::Error),
}

impl Refusal {
    /// The status and the metrics' `outcome`.
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Method(_) => (StatusCode::METHOD_NOT_ALLOWED, "method"),
            Self::ContentType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "body-timeout"),
            Self::Body(_) | Self::Message(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::UnknownRealm(_) => (StatusCode::SERVICE_UNAVAILABLE, "unknown-realm"),
            Self::Forward(e) => (
                match e {
                    ForwardError::ConnectTimeout { .. } | ForwardError::ReplyTimeout { .. } => {
                        StatusCode::GATEWAY_TIMEOUT
                    }
                    ForwardError::ReplyTooLarge { .. } => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                },
                e.outcome(),
            ),
            Self::NotAReply(_) => (StatusCode::BAD_GATEWAY, "kdc-bad-reply"),
            Self::Encode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl KdcProxy {
    /// The proxy for checked settings.
    pub(crate) fn new(settings: KdcProxySettings) -> Self {
        let in_flight = Arc::new(Semaphore::new(settings.max_in_flight));
        Self {
            inner: Arc::new(Inner {
                settings,
                in_flight,
            }),
        }
    }

    /// Whether `req` is for the KDC proxy's path (normalised, ASCII case ignored, as the
    /// metrics page is matched).
    pub(crate) fn asks<B>(&self, req: &Request<B>) -> bool {
        NormalizedPath::parse(req.uri().path()).is_ok_and(|p| {
            p.as_str()
                .eq_ignore_ascii_case(self.inner.settings.path.as_str())
        })
    }

    /// Answers one request for the path (see the module's table).
    pub(crate) async fn answer<B>(self, req: Request<B>) -> Response<ProxyBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let peer = req
            .extensions()
            .get::<epa_hyper::ConnectionContext>()
            .map(|c| c.facts().peer);
        let mut realm_label = "none".to_owned();
        let result = self.exchange(req, &mut realm_label).await;
        let outcome = match &result {
            Ok((_, outcome)) => *outcome,
            Err(refusal) => refusal.status().1,
        };
        metrics::counter!(KDC_PROXY_REQUESTS_TOTAL, "realm" => realm_label.clone(), "outcome" => outcome)
            .increment(1);
        match result {
            Ok((body, _)) => {
                metrics::histogram!(KDC_PROXY_SECONDS, "realm" => realm_label.clone())
                    .record(started.elapsed().as_secs_f64());
                tracing::info!(target: "epa", kdc_proxy = outcome, realm = %realm_label, peer = ?peer, "KDC proxy: reply relayed");
                respond(StatusCode::OK, MEDIA_TYPE, body)
            }
            Err(refusal) => {
                let (status, outcome) = refusal.status();
                tracing::info!(target: "epa", kdc_proxy = outcome, realm = %realm_label, peer = ?peer, status = status.as_u16(), "KDC proxy refused: {refusal}");
                let mut response = respond(
                    status,
                    "text/plain; charset=utf-8",
                    format!("kdc proxy: {outcome}\n"),
                );
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
                }
                response
            }
        }
    }

    /// The checks, the body, the KDC: the encoded reply and its outcome. `realm_label` becomes
    /// the realm once it is known to be configured (`other` when it is not).
    async fn exchange<B>(
        &self,
        req: Request<B>,
        realm_label: &mut String,
    ) -> Result<(Vec<u8>, &'static str), Refusal>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let s = &self.inner.settings;
        check_head(&req, s.max_message_bytes)?;
        let _permit = Arc::clone(&self.inner.in_flight)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy(s.max_in_flight))?;
        let body = read_body(req.into_body(), s.max_message_bytes, s.body_timeout).await?;
        let request = message::decode_request(&body)?;
        let Some(realm) = self.realm(request.realm) else {
            "other".clone_into(realm_label);
            return Err(Refusal::UnknownRealm(request.realm.to_owned()));
        };
        realm.name.clone_into(realm_label);
        let limits = Limits {
            connect: s.connect_timeout,
            reply: s.reply_timeout,
            max_reply: s.max_message_bytes,
        };
        let reply = forward::exchange(&realm.kdcs, request.framed, limits).await?;
        let first = reply.first().copied().unwrap_or(0);
        let outcome = match first {
            // [APPLICATION 11] AS-REP, [APPLICATION 13] TGS-REP, [APPLICATION 30] KRB-ERROR.
            0x6b | 0x6d => "reply",
            0x7e => "krb-error",
            _ => return Err(Refusal::NotAReply(first)),
        };
        // The reply fits max_message_bytes (≤ 16 MiB): its length always fits the prefix.
        let framed = message::frame(&reply).ok_or(Refusal::NotAReply(first))?;
        Ok((message::encode(&framed, None)?, outcome))
    }

    /// The configured realm `name`, ASCII case ignored: [MS-KKDCP] §2.2.2 says target-domain
    /// "is not case-sensitive" (the KDC still sees the realm the message itself names).
    fn realm(&self, name: &str) -> Option<&RealmSettings> {
        self.inner
            .settings
            .realms
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

/// Method, media type and a declared length, before the body is read.
fn check_head<B>(req: &Request<B>, max: usize) -> Result<(), Refusal> {
    if req.method() != http::Method::POST {
        return Err(Refusal::Method(req.method().clone()));
    }
    // Absent: accepted (the Python kdcproxy checks none; the DER decides). Another: refused.
    if let Some(value) = req.headers().get(header::CONTENT_TYPE) {
        let media = String::from_utf8_lossy(value.as_bytes());
        let essence = media.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(MEDIA_TYPE) {
            return Err(Refusal::ContentType(media.into_owned()));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| usize::try_from(n).map_or(true, |n| n > max)) {
        return Err(Refusal::TooLarge(max));
    }
    Ok(())
}

/// The whole body, at most `max` bytes, within `deadline`.
async fn read_body<B>(body: B, max: usize, deadline: Duration) -> Result<bytes::Bytes, Refusal>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(Refusal::BodyTimeout(deadline)),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Refusal::TooLarge(max)),
        Ok(Err(e)) => Err(Refusal::Body(e)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<ProxyBody> {
    let mut response = Response::new(epa_hyper::body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests;
