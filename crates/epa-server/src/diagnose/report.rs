//! The page's observer ([`Reporter`]) and the report it makes of one login ([`Diagnosis`]):
//! what the client sent, what the route decided, what every variant would decide.

use super::ntlm::{NtlmFacts, SentBinding};
use super::{
    Diagnosis, DiagnosticsSettings, KerberosReport, NtlmReport, OutcomeReport, RouteReport, Row,
    candidates, table,
};
use epa_core::audit::decide_audited;
use epa_core::decide::{
    BindingObservation, ClientServiceName, ExpectedBinding, Mechanism, RequestFacts, ServerPolicy,
};
use epa_hyper::ChannelFacts;
use epa_hyper::authenticator::{AuthError, Completion, ExpectedBindings};
use epa_hyper::layer::{LegEnd, LegObserver, LegVerdict, Observed};
use epa_hyper::telemetry::ClientText;

/// The page's [`LegObserver`]: reports every completed or refused exchange as a [`Diagnosis`]
/// extension; a bad token or an unavailable backend get the layer's usual answers.
#[derive(Debug)]
pub(super) struct Reporter(pub(super) DiagnosticsSettings);

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
            // Any other failure, or a verdict this version does not know: the layer's usual
            // answer, no report.
            _ => return Observed::Proceed,
        };
        let diagnosis = report(&Inputs {
            settings: &self.0,
            route: end.route,
            target: end.target,
            channel: end.channel,
            token: end.token,
            expected: end.expected,
            backend: end.backend,
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
    /// What the backend can complete (Kerberos or not: the NTLM fallback notes).
    pub backend: epa_core::decide::Mechanisms,
    pub verdict: Verdict<'a>,
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
            session_enctype: done.session_enctype.map(|e| e.name()),
        }),
        _ => None,
    };
    if mechanism == Some(Mechanism::Ntlm) {
        let target = ntlm.as_ref().and_then(|f| f.target_name.as_deref());
        let kerberos_offered = inputs.route.mechanisms().permits(Mechanism::Kerberos)
            && inputs.backend.permits(Mechanism::Kerberos);
        notes.extend(super::fallback::notes(target, kerberos_offered));
    }
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
