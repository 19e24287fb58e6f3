//! The client diagnostics page (`[diagnostics]` in `epa serve`): a login made on its path is
//! answered with a report — what the client sent, what this route decided, what every
//! enforcement × scenario × profile would decide — as JSON or as an HTML page. It admits
//! nothing.
//!
//! Where the facts come from: the page is an [`ExtendedProtectionLayer`] of its own (its own layer
//! identity, so nothing it does is another route's state) with this module's
//! [`LegObserver`](epa_hyper::layer::LegObserver). On the leg that ends the exchange — completed,
//! refused by the decision, refused by the backend — the layer tells the observer the backend's
//! result, the binding it handed the backend and that leg's token
//! ([`LegEnd`](epa_hyper::layer::LegEnd)); the observer takes the exchange over as a report
//! ([`Observed::Report`](epa_hyper::layer::Observed::Report)). The NTLM AUTHENTICATE (raw, or inside
//! SPNEGO) is read again here ([`ntlm::NtlmFacts`]), unverified, for what the backends do not
//! report (flags, MIC, the raw binding value). No backend changes. The report goes to the inner
//! [`Page`] as a request extension ([`Diagnosis`]); no [`epa_hyper::AuthenticatedUser`] is ever
//! inserted and no identity is kept on the connection, so a login here authenticates no other
//! request.
//!
//! Semantics: an incomplete exchange gets the usual 401 legs; malformed tokens the usual 400;
//! an unavailable backend the usual 503. A refusal by the backend (unknown user, wrong
//! password, throttled, NTLMv1) is reported only as "refused by the backend", without a
//! decision table. Every login is logged like any other (the decision event, or
//! `authentication-failed`), plus one `diagnostics report` event.

mod candidates;
mod fallback;
pub mod ntlm;
mod render;
mod report;
mod table;

pub use candidates::{Candidate, CertificateFile};
pub use render::Page;
pub use table::Row;

use epa_config::{PolicyTable, ServerConfig};
use epa_core::path::NormalizedPath;
use epa_hyper::body::ProxyBody;
use epa_hyper::layer::{ExtendedProtection, ExtendedProtectionLayer};
use http::{Request, Response};
use ntlm::NtlmFacts;
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use thiserror::Error;

/// What the page needs besides its layer: the variants of the route's policy and the
/// listener's certificate file.
#[derive(Debug)]
pub struct DiagnosticsSettings {
    variants: Vec<table::Variant>,
    certificate: Option<CertificateFile>,
}

impl DiagnosticsSettings {
    /// For a page whose layer was built from `table` (the variants are that table with each
    /// enforcement, scenario and profile).
    pub fn new(table: &PolicyTable) -> Self {
        Self {
            variants: table::variants(table),
            certificate: None,
        }
    }

    /// The listener's certificate file (PEM), for the candidates of a mismatching binding.
    pub fn certificate_file(mut self, path: std::path::PathBuf) -> Self {
        self.certificate = Some(CertificateFile::new(path));
        self
    }
}

/// The page behind its own layer: `layer` should be built from the same `[policy]` table as
/// `settings`. The layer is reconfigured (a new identity, no persisted identity) and observed
/// by the page's observer: every exchange that ends is reported, none admitted (so no
/// allow-list applies either).
pub fn page(
    layer: ExtendedProtectionLayer,
    settings: DiagnosticsSettings,
) -> ExtendedProtection<Page> {
    let layer = layer
        .persist_identity(false)
        .observe(report::Reporter(settings));
    tower_layer::Layer::layer(&layer, Page)
}

/// The report of one login on the page (serialised as the JSON form).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// Always `"nothing"`: the page admits nobody, whatever the outcome.
    pub admits: &'static str,
    /// `https` or `http`.
    pub transport: &'static str,
    /// `ntlm`, `kerberos`, `other`, or `null` when the backend refused before knowing.
    pub mechanism: Option<&'static str>,
    /// `completed`, `refused-binding` (the package refused the binding), or
    /// `refused-by-the-backend`.
    pub backend: &'static str,
    /// The authenticated user (escaped), only when the backend completed the exchange.
    pub user: Option<String>,
    /// What the NTLM AUTHENTICATE said, when there was one.
    pub ntlm: Option<NtlmReport>,
    /// Kerberos: what MIT reported.
    pub kerberos: Option<KerberosReport>,
    /// The backend's binding observation on this route.
    pub observation: Option<&'static str>,
    /// The client SPN the decision saw (escaped).
    pub client_spn: Option<String>,
    /// The route's policy; `null` when the backend refused the credentials (the page tells a
    /// client without a valid account no more than a 401 does).
    pub route: Option<RouteReport>,
    /// What this route decided.
    pub outcome: OutcomeReport,
    /// What every variant would decide (empty when the backend refused the credentials).
    pub table: Vec<Row>,
    /// Caveats, for people.
    pub notes: Vec<String>,
}

/// The NTLM part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct NtlmReport {
    /// The message's fields.
    #[serde(flatten)]
    pub facts: NtlmFacts,
    /// `absent`, `all-zero`, `matching`, `mismatching`, `present-not-compared`, `malformed`.
    pub channel_bindings: &'static str,
    /// The 16 bytes sent, hex.
    pub channel_bindings_md5: Option<String>,
    /// The candidates the value equals (empty: none we know).
    pub equals: Vec<String>,
    /// Every candidate compared.
    pub candidates: Vec<Candidate>,
}

/// The Kerberos part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct KerberosReport {
    /// Whether MIT reported the context channel-bound (it reports only this flag).
    pub channel_bound: bool,
    /// The ticket's service principal (escaped).
    pub ticket_service: Option<String>,
    /// The ticket's session-key encryption type (`aes256-cts-hmac-sha1-96`, `arcfour-hmac`).
    pub session_enctype: Option<&'static str>,
}

/// The route's policy.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// Enforcement.
    pub enforcement: &'static str,
    /// Scenario.
    pub scenario: &'static str,
    /// Profile.
    pub profile: &'static str,
    /// The names an SPN check compares with.
    pub service_names: Vec<String>,
    /// The binding handed to the backend: `connection`, `configured` or `none`.
    pub expected_binding: &'static str,
    /// The audit target's enforcement, in audit mode.
    pub audit_target: Option<&'static str>,
}

/// What the route decided.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeReport {
    /// Whether the route's policy accepts this login (on any other route it would be admitted;
    /// here it is only reported).
    pub accepted: bool,
    /// 200, or the refusal's status.
    pub status: u16,
    /// The reason code.
    pub reason: String,
    /// The reason as a sentence.
    pub message: String,
    /// In audit mode: whether the target would accept, and why.
    pub audit_target: Option<(bool, String)>,
}

/// Why [`WithDiagnostics::from_config`] cannot build the page.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DiagnosticsError {
    /// The path does not normalise.
    #[error("[diagnostics] path {0:?} is not an absolute path that normalises")]
    Path(String),
    /// No `[policy]` table to build the page's layer from.
    #[error("[diagnostics] needs a listener that runs Negotiate and a [policy] table")]
    NoPolicy,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// A service that answers the diagnostics path with the page and hands everything else to
/// `inner` (the path is matched after normalisation, as routes are).
#[derive(Clone)]
pub struct WithDiagnostics<S> {
    path: NormalizedPath,
    page: ExtendedProtection<Page>,
    inner: S,
}

impl<S> std::fmt::Debug for WithDiagnostics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithDiagnostics")
            .field("path", &self.path.as_str())
            .finish_non_exhaustive()
    }
}

impl<S> WithDiagnostics<S> {
    /// The page on `path` in front of `inner`.
    pub fn new(path: NormalizedPath, page: ExtendedProtection<Page>, inner: S) -> Self {
        Self { path, page, inner }
    }

    /// From `[diagnostics]` (which should be enabled), `[policy]` and the listener's
    /// certificate file; `layer` is built from `[policy]` like the other routes' layers.
    pub fn from_config(
        config: &ServerConfig,
        layer: ExtendedProtectionLayer,
        inner: S,
    ) -> Result<Self, DiagnosticsError> {
        let d = &config.diagnostics;
        let path = d
            .normalized_path()
            .ok_or_else(|| DiagnosticsError::Path(d.path.clone()))?;
        let table = config.policy.as_ref().ok_or(DiagnosticsError::NoPolicy)?;
        let mut settings = DiagnosticsSettings::new(table);
        if let Some(file) = &config.listener.certificate_file {
            settings = settings.certificate_file(file.clone());
        }
        Ok(Self::new(path, page(layer, settings), inner))
    }
}

impl<S, B> tower_service::Service<Request<B>> for WithDiagnostics<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible>,
    S::Future: Send + 'static,
    B: http_body::Body<Data: Send> + Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The page is always ready; the inner service decides.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let ours = NormalizedPath::parse(req.uri().path()).is_ok_and(|p| p == self.path);
        if ours {
            Box::pin(self.page.call(req))
        } else {
            Box::pin(self.inner.call(req))
        }
    }
}

#[cfg(test)]
mod tests;
