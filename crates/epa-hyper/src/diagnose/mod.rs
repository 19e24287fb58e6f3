//! The client diagnostics page (`[diagnostics]` in `epa serve`): a login made on its path is
//! answered with a report — what the client sent, what this route decided, what every
//! enforcement × scenario × profile would decide — as JSON or as an HTML page. It admits
//! nothing.
//!
//! Where the facts come from: the page is an [`ExtendedProtectionLayer`] of its own (its own
//! layer identity, so nothing it does is another route's state) with this module's
//! [`LegObserver`]. On the leg that ends the exchange — completed, refused by the decision,
//! refused by the backend — the layer tells the observer the backend's result, the binding it
//! handed the backend and that leg's token ([`LegEnd`]); the observer takes the exchange over
//! as a report ([`Observed::Report`]). The NTLM AUTHENTICATE (raw, or inside SPNEGO) is read again here
//! ([`ntlm::NtlmFacts`]), unverified, for what the backends do not report (flags, MIC, the
//! raw binding value). No backend changes. The report goes to the inner [`Page`] as a request
//! extension ([`Diagnosis`]); no [`crate::AuthenticatedUser`] is ever inserted and no identity
//! is kept on the connection, so a login here authenticates no other request.
//!
//! Semantics: an incomplete exchange gets the usual 401 legs; malformed tokens the usual 400;
//! an unavailable backend the usual 503. A refusal by the backend (unknown user, wrong
//! password, throttled, NTLMv1) is reported only as "refused by the backend", without a
//! decision table. Every login is logged like any other (the decision event, or
//! `authentication-failed`), plus one `diagnostics report` event.

mod candidates;
pub mod ntlm;
mod render;
mod table;

pub use candidates::{Candidate, CertificateFile};
pub use render::Page;
pub use table::Row;

use crate::authenticator::{AuthError, Completion, ExpectedBindings};
use crate::connection::ChannelFacts;
use crate::layer::{
    ExtendedProtection, ExtendedProtectionLayer, LegEnd, LegObserver, LegVerdict, Observed,
};
use crate::proxy::ProxyBody;
use crate::telemetry::ClientText;
use epa_core::audit::decide_audited;
use epa_core::config::{PolicyTable, ServerConfig};
use epa_core::decide::{
    BindingObservation, ClientServiceName, ExpectedBinding, Mechanism, RequestFacts, ServerPolicy,
};
use epa_core::path::NormalizedPath;
use http::{Request, Response};
use ntlm::{NtlmFacts, SentBinding};
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
    let layer = layer.persist_identity(false).observe(Reporter(settings));
    tower_layer::Layer::layer(&layer, Page)
}

/// The page's [`LegObserver`]: reports every completed or refused exchange as a [`Diagnosis`]
/// extension; a bad token or an unavailable backend get the layer's usual answers.
#[derive(Debug)]
pub(crate) struct Reporter(DiagnosticsSettings);

impl LegObserver for Reporter {
    fn on_leg_end(&self, end: &LegEnd<'_>) -> Observed {
        let verdict = match end.verdict {
            LegVerdict::Completed { done, .. } => Verdict::Completed(done),
            LegVerdict::RefusedBinding {
                mechanism,
                observation,
            } => Verdict::RefusedBinding {
                mechanism,
                observation,
            },
            LegVerdict::Failed(
                AuthError::LogonDenied(_) | AuthError::Refused { .. } | AuthError::Unsupported(_),
            ) => Verdict::RefusedByBackend,
            LegVerdict::Failed(_) => return Observed::Proceed,
        };
        let diagnosis = report(&Inputs {
            settings: &self.0,
            route: end.route,
            target: end.target,
            channel: end.channel,
            token: end.token,
            expected: end.expected,
            verdict,
        });
        let mut extensions = http::Extensions::new();
        extensions.insert(diagnosis);
        Observed::Report(extensions)
    }
}

/// How the layer ended the exchange.
#[derive(Debug, Clone, Copy)]
enum Verdict<'a> {
    /// The backend completed it (the decision may still refuse).
    Completed(&'a Completion),
    /// The security package refused the binding before completing.
    RefusedBinding {
        mechanism: Mechanism,
        observation: BindingObservation,
    },
    /// The backend refused the credentials (not told apart, on purpose).
    RefusedByBackend,
}

/// What [`report`] reads.
struct Inputs<'a> {
    pub settings: &'a DiagnosticsSettings,
    pub route: &'a ServerPolicy,
    pub target: Option<&'a ServerPolicy>,
    pub channel: &'a ChannelFacts,
    pub token: &'a [u8],
    pub expected: Option<&'a ExpectedBindings>,
    pub verdict: Verdict<'a>,
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

/// Reads the NTLM AUTHENTICATE in a leg's token: raw, or inside SPNEGO.
fn ntlm_message(token: &[u8]) -> Option<&[u8]> {
    epa_core::spnego::classify(token).ok()?.ntlm_message()
}

fn route_report(
    route: &ServerPolicy,
    target: Option<&ServerPolicy>,
    channel: &ChannelFacts,
) -> RouteReport {
    let policy = route.policy();
    RouteReport {
        enforcement: policy.enforcement().name(),
        scenario: policy.scenario().name(),
        profile: route.profile().name(),
        service_names: route
            .acceptable_service_names()
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
        expected_binding: match route.expected_binding(channel.transport) {
            ExpectedBinding::None => "none",
            ExpectedBinding::Connection => "connection",
            ExpectedBinding::Configured(_) => "configured",
        },
        audit_target: target.map(|t| t.policy().enforcement().name()),
    }
}

fn ntlm_report(inputs: &Inputs<'_>, facts: NtlmFacts) -> NtlmReport {
    let expected = inputs.expected.map(|e| e.md5().0);
    let (state, value) = match &facts.binding {
        SentBinding::Absent => ("absent", None),
        SentBinding::AllZero => ("all-zero", None),
        SentBinding::Malformed => ("malformed", None),
        // Public values: a plain comparison.
        SentBinding::Value(v) if expected.as_ref() == Some(v) => ("matching", Some(*v)),
        SentBinding::Value(v) if expected.is_some() => ("mismatching", Some(*v)),
        SentBinding::Value(v) => ("present-not-compared", Some(*v)),
    };
    let configured = match inputs.route.expected_binding(inputs.channel.transport) {
        ExpectedBinding::Configured(b) => Some(b.clone()),
        _ => None,
    };
    let candidates = value
        .map(|v| {
            candidates::candidates(
                &epa_core::ChannelBindingsHash(v),
                inputs.channel,
                configured.as_ref(),
                inputs.settings.certificate.as_ref(),
            )
        })
        .unwrap_or_default();
    NtlmReport {
        channel_bindings: state,
        channel_bindings_md5: value.map(|v| v.iter().map(|b| format!("{b:02x}")).collect()),
        equals: candidates
            .iter()
            .filter(|c| c.equals_client)
            .map(|c| c.name.clone())
            .collect(),
        candidates,
        facts,
    }
}

fn escaped(spn: &ClientServiceName) -> Option<String> {
    spn.as_option().map(|s| ClientText(s).to_string())
}

/// What the backend's verdict says: the mechanism, the `backend` field, the user, and the facts
/// a decision is made on (none when the backend refused the credentials).
type Heard = (
    Option<Mechanism>,
    &'static str,
    Option<String>,
    Option<RequestFacts>,
);

fn heard(verdict: Verdict<'_>, channel: &ChannelFacts, ntlm: Option<&NtlmFacts>) -> Heard {
    match verdict {
        Verdict::Completed(done) => (
            Some(done.mechanism),
            "completed",
            Some(ClientText(&done.identity.principal).to_string()),
            Some(RequestFacts {
                transport: channel.transport,
                mechanism: done.mechanism,
                server_supports_ep: done.supports_extended_protection,
                channel_binding: done.channel_binding,
                client_spn: done.client_spn.clone(),
            }),
        ),
        Verdict::RefusedBinding {
            mechanism,
            observation,
        } => (
            Some(mechanism),
            "refused-binding",
            None,
            Some(RequestFacts {
                transport: channel.transport,
                mechanism,
                server_supports_ep: true,
                channel_binding: observation,
                client_spn: ClientServiceName::Missing,
            }),
        ),
        Verdict::RefusedByBackend => (
            ntlm.map(|_| Mechanism::Ntlm),
            "refused-by-the-backend",
            None,
            None,
        ),
    }
}

/// What the route decided on `request` and what every variant would decide; without facts
/// (the backend refused the credentials), only that.
fn decided(
    inputs: &Inputs<'_>,
    request: Option<&RequestFacts>,
    sent: Option<&SentBinding>,
    notes: &mut Vec<String>,
) -> (OutcomeReport, Vec<Row>) {
    let Some(facts) = request else {
        notes.push("The backend refused the credentials (unknown user, wrong password, a locked or throttled account, NTLMv1 or LM): these are not told apart, and no decision was made.".to_owned());
        let outcome = OutcomeReport {
            accepted: false,
            status: 401,
            reason: "refused-by-the-backend".to_owned(),
            message: "the backend refused the credentials".to_owned(),
            audit_target: None,
        };
        return (outcome, Vec::new());
    };
    let audited = decide_audited(inputs.route, inputs.target, facts);
    let d = &audited.enforced;
    let outcome = OutcomeReport {
        accepted: d.is_accept(),
        status: d.status().unwrap_or(200),
        reason: d.reason().code().to_owned(),
        // The message may name the client's SPN.
        message: ClientText(&d.reason().message()).to_string(),
        audit_target: audited
            .target
            .as_ref()
            .map(|t| (t.is_accept(), t.reason().code().to_owned())),
    };
    let sent = sent.filter(|_| facts.mechanism != Mechanism::Kerberos);
    let rows = table::rows(
        &inputs.settings.variants,
        inputs.route,
        inputs.channel,
        facts,
        sent,
    );
    (outcome, rows)
}

/// The NTLM part; when the backend refused the credentials, without what this server would have
/// compared the binding with.
fn reported_ntlm(inputs: &Inputs<'_>, facts: NtlmFacts, refused: bool) -> NtlmReport {
    let mut n = ntlm_report(inputs, facts);
    if refused {
        n.candidates.clear();
        n.equals.clear();
        if matches!(n.channel_bindings, "matching" | "mismatching") {
            n.channel_bindings = "present-not-compared";
        }
    }
    n
}

/// Builds the report of one login. Bounded: one token (≤ the header limit), 20 decisions,
/// at most ~40 MD5s of short structs, one `stat` of the certificate file (read only when it
/// changed, ≤ 1 MiB).
fn report(inputs: &Inputs<'_>) -> Diagnosis {
    let channel = inputs.channel;
    let ntlm = ntlm_message(inputs.token).and_then(NtlmFacts::read);
    let sent = ntlm.as_ref().map(|f| f.binding.clone());
    let mut notes = vec![
        "This page admits nothing: a login accepted here authenticates neither this connection nor any other route.".to_owned(),
        "Channel bindings are public values (both peers compute them from the certificate): they are compared here with ==, not in constant time.".to_owned(),
    ];
    let (mechanism, backend, user, request) = heard(inputs.verdict, channel, ntlm.as_ref());
    let kerberos = match (inputs.verdict, mechanism) {
        (Verdict::Completed(done), Some(Mechanism::Kerberos)) => Some(KerberosReport {
            channel_bound: done.channel_binding == BindingObservation::Match,
            ticket_service: escaped(&done.client_spn),
        }),
        _ => None,
    };
    if kerberos.is_some() {
        notes.push("Kerberos: MIT reports only whether the context is channel-bound, not the value the client sent; every row of the table uses that observation.".to_owned());
    }
    let (outcome, table) = decided(inputs, request.as_ref(), sent.as_ref(), &mut notes);
    // A client without a valid account learns nothing of this server from the page: not the
    // route's policy and names, not the bindings this server would have compared with.
    let refused = matches!(inputs.verdict, Verdict::RefusedByBackend);
    let ntlm = ntlm.map(|f| reported_ntlm(inputs, f, refused));
    if let Some(n) = &ntlm
        && n.channel_bindings == "mismatching"
        && n.equals.is_empty()
    {
        notes.push("The binding equals none of the candidates this server knows: the client saw another certificate (a TLS-terminating proxy or relay, whose certificate this server cannot know) or computed it some other way.".to_owned());
    }
    let diagnosis = Diagnosis {
        admits: "nothing",
        transport: channel.transport.name(),
        mechanism: mechanism.map(Mechanism::name),
        backend,
        user,
        observation: request.as_ref().map(|f| f.channel_binding.name()),
        client_spn: request.as_ref().and_then(|f| escaped(&f.client_spn)),
        ntlm,
        kerberos,
        route: (!refused).then(|| route_report(inputs.route, inputs.target, channel)),
        outcome,
        table,
        notes,
    };
    tracing::info!(target: "epa", diagnostics = true, peer = %channel.peer, backend = diagnosis.backend, reason = %diagnosis.outcome.reason, "diagnostics report");
    diagnosis
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
