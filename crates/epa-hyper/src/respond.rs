//! Every answer the authentication stack makes itself, chosen from typed outcomes in one place
//! (the shape of linkerd's `ServerRescue::rescue`): [`Answer`] says *what* happened, [`Reply`]
//! is the response it becomes. The decision (`epa_core::decide`) decides; this module answers.
//!
//! * a refusal by the decision, or by the security package over the binding (GSSAPI/SSPI
//!   refuse before completing), and refused credentials: 401 with fresh challenges;
//! * a continuing exchange: 401 with the next token;
//! * a backend failure: by [`AuthError::status()`] — the one mapping from error to status —
//!   400 for a bad token, 503 with `Retry-After` when the credentials were not judged;
//! * malformed input 400, an untrusted peer 403, HTTP/2 505, a misconfiguration 500.
//!
//! The layer's answers have an empty body and `Content-Length: 0`, never echoing the client's
//! blob. Behind the layer: the allow-list's 403 ([`not_allowed`], text) and the client
//! certificate requirement's 403.x, 400 and 500 ([`certificate_refused`], JSON).

use crate::authenticator::AuthError;
use bytes::Bytes;
use epa_core::allow::Denial;
use epa_core::client_cert::CertificateRefusal;
use epa_core::decide::Decision;
use epa_core::path::PathError;
use http::{HeaderValue, Response, StatusCode, header};

/// What the layer answers, before it is a response.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// 401 with fresh challenges (every offered scheme): no credentials, refused ones, or a
    /// refusal by the decision.
    Challenge,
    /// 401 with the next token of a continuing exchange.
    Continue(HeaderValue),
    /// 400: a malformed `Authorization` header or token (.NET's client-fault class).
    BadRequest,
    /// 403: a peer that is not one of the trusted proxies.
    UntrustedPeer,
    /// 403: an authenticated caller on neither `allow_users` nor `allow_groups`.
    NotAllowed,
    /// 505: connection-oriented authentication cannot run over HTTP/2.
    VersionNotSupported,
    /// 503 with `Retry-After`: the credentials were not judged (never 401, which would count as
    /// a failed logon, and never an accept).
    Unavailable {
        /// Seconds for `Retry-After`.
        retry_after_secs: u32,
    },
    /// 500: a misconfigured stack or a lost leg.
    Internal,
}

impl Answer {
    /// The answer to a failed leg, by [`AuthError::status()`].
    pub(crate) fn for_error(error: &AuthError) -> Self {
        match (error.status(), error) {
            (
                _,
                AuthError::Unavailable {
                    retry_after_secs, ..
                },
            ) => Self::Unavailable {
                retry_after_secs: *retry_after_secs,
            },
            (400, _) => Self::BadRequest,
            (500.., _) => Self::Internal,
            _ => Self::Challenge,
        }
    }

    /// The answer to a refusal by the decision: 500 for a configuration fault, else 401.
    pub(crate) fn for_refusal(decision: &Decision) -> Self {
        match decision {
            Decision::Reject { status: 500, .. } => Self::Internal,
            _ => Self::Challenge,
        }
    }

    /// The response this answer becomes; `challenges` are the layer's offered schemes.
    pub(crate) fn reply(self, challenges: &[HeaderValue]) -> Reply {
        let (status, www_authenticate, retry_after) = match self {
            Self::Challenge => (StatusCode::UNAUTHORIZED, challenges.to_vec(), None),
            Self::Continue(token) => (StatusCode::UNAUTHORIZED, vec![token], None),
            Self::BadRequest => (StatusCode::BAD_REQUEST, Vec::new(), None),
            Self::UntrustedPeer | Self::NotAllowed => (StatusCode::FORBIDDEN, Vec::new(), None),
            Self::VersionNotSupported => (StatusCode::HTTP_VERSION_NOT_SUPPORTED, Vec::new(), None),
            Self::Unavailable { retry_after_secs } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Vec::new(),
                Some(retry_after_secs),
            ),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new(), None),
        };
        Reply {
            status,
            www_authenticate,
            retry_after,
        }
    }
}

/// A response the layer makes itself: empty body, `Content-Length: 0`.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    www_authenticate: Vec<HeaderValue>,
    retry_after: Option<u32>,
}

impl Reply {
    /// An answer without challenges (any but [`Answer::Challenge`]).
    pub(crate) fn plain(status: StatusCode) -> Self {
        Self {
            status,
            www_authenticate: Vec::new(),
            retry_after: None,
        }
    }

    /// 500: the answer when the layer lost what it was answering.
    pub(crate) fn internal() -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response.
    pub(crate) fn into_response<ResBody: Default>(self) -> Response<ResBody> {
        let mut r = Response::new(ResBody::default());
        *r.status_mut() = self.status;
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        for v in self.www_authenticate {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// A response body the stack can write its own short text answers into (the allow-list's
/// 403): the proxy's body, `Full<Bytes>`, `String`, or `Empty<Bytes>` (the text dropped).
pub trait AnswerBody: Sized {
    /// A body holding `text`.
    fn answer(text: &'static str) -> Self;
}

/// The proxy's body (`proxy::ProxyBody`), named by its type so that this module imports nothing
/// of the proxy.
impl AnswerBody
    for http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>
{
    fn answer(text: &'static str) -> Self {
        use http_body_util::BodyExt as _;
        http_body_util::Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

impl AnswerBody for http_body_util::Full<Bytes> {
    fn answer(text: &'static str) -> Self {
        Self::new(Bytes::from_static(text.as_bytes()))
    }
}

impl AnswerBody for http_body_util::Empty<Bytes> {
    fn answer(_: &'static str) -> Self {
        Self::new()
    }
}

impl AnswerBody for String {
    fn answer(text: &'static str) -> Self {
        text.to_owned()
    }
}

/// A short `text/plain` answer.
fn text<B: AnswerBody>(status: StatusCode, text: &'static str) -> Response<B> {
    let mut r = Response::new(B::answer(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// 403 for an authenticated caller on neither `allow_users` nor `allow_groups`:
/// `forbidden: user-not-allowed` or `forbidden: group-not-allowed`.
pub(crate) fn not_allowed<B: AnswerBody>(denial: Denial) -> Response<B> {
    let body = match denial {
        Denial::UserNotAllowed => "forbidden: user-not-allowed\n",
        Denial::GroupNotAllowed => "forbidden: group-not-allowed\n",
    };
    text(StatusCode::FORBIDDEN, body)
}

/// 500, for a future polled after it answered.
pub(crate) fn lost<B: AnswerBody>() -> Response<B> {
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

/// The 403.x body of a client-certificate refusal: `{"status":403,"substatus":7,
/// "reason":"client-certificate-required","message":"client certificate required"}`.
pub(crate) fn refusal_body(refusal: CertificateRefusal) -> String {
    format!(
        "{{\"status\":403,\"substatus\":{},\"reason\":\"{}\",\"message\":\"{}\"}}\n",
        refusal.iis_substatus(),
        refusal.code(),
        refusal.message()
    )
}

fn json<B: From<String>>(status: StatusCode, body: String) -> Response<B> {
    let mut r = Response::new(B::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 403 with the IIS sub-status and the JSON body of [`refusal_body`].
pub(crate) fn certificate_refused<B: From<String>>(refusal: CertificateRefusal) -> Response<B> {
    json(StatusCode::FORBIDDEN, refusal_body(refusal))
}

/// 400 for a request path the certificate requirement cannot normalise (JSON).
pub fn bad_request_path<B: From<String>>(e: &PathError) -> Response<B> {
    json(
        StatusCode::BAD_REQUEST,
        format!("{{\"status\":400,\"reason\":\"bad-request-path\",\"message\":\"{e}\"}}\n"),
    )
}

/// An empty 500: the request did not come through this crate's connection serving.
pub(crate) fn no_connection_context<B: From<String>>() -> Response<B> {
    let mut r = Response::new(B::from(String::new()));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_answer_by_their_status() {
        let challenges = [HeaderValue::from_static("Negotiate")];
        let status = |e: AuthError| Answer::for_error(&e).reply(&challenges).status;
        assert_eq!(
            status(AuthError::InvalidToken("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(AuthError::Unsupported("x".into())),
            StatusCode::UNAUTHORIZED
        );
        let unavailable = Answer::for_error(&AuthError::Unavailable {
            retry_after_secs: 7,
            reason: "down".into(),
        })
        .reply(&challenges);
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.retry_after, Some(7));
        assert!(unavailable.www_authenticate.is_empty());
    }
}
