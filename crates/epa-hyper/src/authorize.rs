//! Authorization of an authenticated caller against an [`AllowList`] (`allow_users`,
//! `allow_groups`): [`RequireAllowedLayer`], a tower layer of its own behind the Extended
//! Protection layer (the shape of tower-http's `AsyncRequireAuthorization`), used by the
//! proxy's route table too. A refusal is a 403 (`forbidden: user-not-allowed` or
//! `forbidden: group-not-allowed`, `respond.rs`), logged with its reason and counted in
//! [`AUTHORIZATION_DENIED_TOTAL`].

use crate::connection::{Authenticated, AuthenticatedUser};
use crate::respond::{self, AnswerBody};
use crate::telemetry::ClientText;
use epa_core::allow::{AllowList, Caller, Denial};
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Counter name (see [`crate::telemetry::metrics`]).
pub use crate::telemetry::metrics::AUTHORIZATION_DENIED_TOTAL;

/// `DOMAIN\user` (or `user`), the form `allow_users` names.
fn principal(user: &Authenticated) -> String {
    let id = &user.identity;
    if id.domain.is_empty() {
        id.user.clone()
    } else {
        format!("{}\\{}", id.domain, id.user)
    }
}

/// Checks `user` (none: not authenticated, refused unless the list is empty); on a refusal
/// logs it and counts it.
pub fn check(allow: &AllowList, user: Option<&Authenticated>, path: &str) -> Result<(), Denial> {
    if allow.is_empty() {
        return Ok(());
    }
    let who = user.map(principal);
    let result = match (user, who.as_deref()) {
        (Some(u), Some(p)) => allow.check(&Caller {
            principal: p,
            groups: &u.groups,
            group_names: &u.group_names,
        }),
        _ => allow.check(&Caller {
            principal: "",
            groups: &[],
            group_names: &[],
        }),
    };
    if let Err(denial) = result {
        metrics::counter!(AUTHORIZATION_DENIED_TOTAL, "reason" => denial.code()).increment(1);
        tracing::info!(
            target: "epa",
            reason = denial.code(),
            user = %ClientText(who.as_deref().unwrap_or("")),
            groups = user.map_or(0, |u| u.groups.len()),
            path = %ClientText(path),
            "authorization: authenticated caller is on neither allow_users nor allow_groups"
        );
    }
    result
}

/// Builds [`RequireAllowed`]: the allow-list behind an authenticating layer. An empty list lets
/// every authenticated caller through; a request without an [`AuthenticatedUser`] is refused
/// unless the list is empty.
#[derive(Clone, Debug)]
pub struct RequireAllowedLayer {
    allow: Arc<AllowList>,
}

impl RequireAllowedLayer {
    /// The layer for `allow`.
    pub fn new(allow: AllowList) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }
}

impl<S> tower_layer::Layer<S> for RequireAllowedLayer {
    type Service = RequireAllowed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAllowed {
            inner,
            allow: self.allow.clone(),
        }
    }
}

/// A service behind an allow-list, made by [`RequireAllowedLayer`].
#[derive(Clone, Debug)]
pub struct RequireAllowed<S> {
    inner: S,
    allow: Arc<AllowList>,
}

impl<S> RequireAllowed<S> {
    /// The allow-list.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for RequireAllowed<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
    ResBody: AnswerBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireAllowedFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let user = req.extensions().get::<AuthenticatedUser>();
        let state = match check(&self.allow, user.map(|u| &**u), req.uri().path()) {
            Ok(()) => State::Inner {
                future: self.inner.call(req),
            },
            Err(denial) => State::Refused {
                response: Some(respond::not_allowed(denial)),
            },
        };
        RequireAllowedFuture { state }
    }
}

pin_project! {
    /// The response future of [`RequireAllowed`].
    pub struct RequireAllowedFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for RequireAllowedFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: AnswerBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(respond::lost)))
            }
        }
    }
}
