//! Policy scenario files: a `[policy]` table and `[[case]]` entries, in TOML.
//!
//! ```toml
//! [policy]
//! enforcement = "always"            # never | when-supported | always
//! scenario = "transport-selected"   # transport-selected | trusted-proxy
//! service_names = ["HTTP/www.contoso.com"]
//! prefixes = ["http://www.contoso.com:80/"]
//! profile = "documented"            # documented | dotnet-legacy | dotnet8 | iis
//! # IIS form instead of enforcement/scenario:
//! # token_checking = "none|allow|require"
//! # flags = ["proxy", "no-service-name-check", "allow-dotless-spn", "proxy-cohosting"]
//! # spns = [...]  (alias of service_names)
//! machine_name = "srv01.corp.example"   # what wildcard / IP prefixes resolve to (optional)
//! [policy.hosts]                        # canonical names of dotless prefix hosts (optional)
//! web01 = "web01.corp.example"
//!
//! [[case]]
//! name = "EP client over HTTP names an unknown SPN"
//! transport = "http"
//! mechanism = "ntlm"
//! server_supports_ep = true
//! channel_binding = "unbound"
//! client_spn = "HTTP/evil.example"
//! expect = "reject"
//! expect_service_name = "HTTP/evil.example"
//! ```
//!
//! Audit mode: `target_enforcement` (or `target_token_checking` in the IIS form) in `[policy]`
//! names the policy to observe; each result then also carries the target's decision and
//! whether it is a would-be rejection, and cases may say `expect_target = "reject"`,
//! `expect_target_reason = "binding-absent"`, `expect_would_reject = true`.
//!
//! Client-certificate route rules: a case may give what the connection's certificate came to,
//! `client_certificate = "valid" | "not-presented" | "untrusted" | "expired" | "not-yet-valid"
//! | "revoked" | "revocation-unknown"`, whether the route requires one
//! (`requires_certificate = true`, refused with 403.x before any Negotiate leg), and in audit
//! whether the requirement is observed without being enforced (`observe_requires_certificate
//! = true`): the case then expects e.g. `expect_would_reject = true`,
//! `expect_target_reason = "client-certificate-required"`.
//!
//! Unknown keys are errors, so a typo cannot silently change a policy.

use epa_config::{ConfigError, PolicyTable};
use epa_core::audit::{decide_audited, route_outcome_audited};
use epa_core::client_cert::{CertificateRefusal, CertificateStatus, RouteOutcome};
use epa_core::decide::{
    BindingObservation, ClientServiceName, Decision, Mechanism, RequestFacts, ServerPolicy,
    Transport,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A scenario file that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// Not valid TOML, or not the expected shape (the message carries line and column).
    #[error("invalid scenario file: {0}")]
    Toml(String),
    /// The `[policy]` table does not give a usable policy.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A case is inconsistent.
    #[error("case '{name}': {problem}")]
    Case {
        /// The case's name.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// Accept or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// The request is let through.
    Accept,
    /// The request is refused.
    Reject,
}

/// One `[[case]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A name for reports.
    pub name: String,
    /// https | http.
    pub transport: Transport,
    /// ntlm (default) | kerberos | other.
    #[serde(default)]
    pub mechanism: Mechanism,
    /// Default true.
    #[serde(default = "yes")]
    pub server_supports_ep: bool,
    /// match | mismatch | absent | unbound | not-checked.
    pub channel_binding: BindingObservation,
    /// Omitted = the client sent none; "" = empty.
    #[serde(default)]
    pub client_spn: Option<String>,
    /// For `policy test`.
    pub expect: Option<Expectation>,
    /// For `policy test`: the service name expected (on accept or reject).
    pub expect_service_name: Option<String>,
    /// For `policy test`: expect that no service name is reported.
    #[serde(default)]
    pub expect_no_service_name: bool,
    /// For `policy test`: the expected reason code.
    pub expect_reason: Option<String>,
    /// For `policy test`: the expected status of a rejection.
    pub expect_status: Option<u16>,
    /// What the connection's client certificate came to (omitted: the route rules do not apply).
    pub client_certificate: Option<CertificateStatus>,
    /// The route requires a valid client certificate (enforced).
    #[serde(default)]
    pub requires_certificate: bool,
    /// The route's certificate requirement is observed (audit), not enforced.
    #[serde(default)]
    pub observe_requires_certificate: bool,
    /// For `policy test` in audit mode: the target's expected decision.
    pub expect_target: Option<Expectation>,
    /// For `policy test` in audit mode: the target's expected reason code.
    pub expect_target_reason: Option<String>,
    /// For `policy test` in audit mode: whether this is a would-be rejection.
    pub expect_would_reject: Option<bool>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    policy: PolicyTable,
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

/// A parsed scenario file: the server policy and its cases.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The policy bound to its listener.
    pub server: ServerPolicy,
    /// The audit target, if any.
    pub target: Option<ServerPolicy>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// `accept` or `reject`.
    pub decision: Expectation,
    /// The rejection status, or null.
    pub status: Option<u16>,
    /// null, "" or the name.
    pub service_name: Option<String>,
    /// The stable reason code.
    pub reason: String,
    /// The sentence.
    pub message: String,
    /// In audit mode: the target's decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetResult>,
}

/// The target's decision of a case, in audit mode.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    /// `accept` or `reject`.
    pub decision: Expectation,
    /// The target's reason code.
    pub reason: String,
    /// The target refuses what the current policy accepts.
    pub would_reject: bool,
}

impl Case {
    /// The facts this case describes.
    pub fn facts(&self) -> RequestFacts {
        RequestFacts {
            transport: self.transport,
            mechanism: self.mechanism,
            server_supports_ep: self.server_supports_ep,
            channel_binding: self.channel_binding,
            client_spn: ClientServiceName::from_option(self.client_spn.as_deref()),
        }
    }

    /// What is wrong with `result` against this case's expectations (empty: all hold).
    pub fn failures(&self, result: &CaseResult) -> Vec<String> {
        let mut out = Vec::new();
        match self.expect {
            Some(e) if e != result.decision => out.push(format!(
                "expected {}, got {} ({})",
                word(e),
                word(result.decision),
                result.reason
            )),
            _ => {}
        }
        if let Some(want) = &self.expect_service_name
            && result.service_name.as_deref() != Some(want)
        {
            out.push(format!(
                "expected service name {want:?}, got {}",
                show_name(&result.service_name)
            ));
        }
        if self.expect_no_service_name && result.service_name.is_some() {
            out.push(format!(
                "expected no service name, got {}",
                show_name(&result.service_name)
            ));
        }
        if let Some(want) = &self.expect_reason
            && *want != result.reason
        {
            out.push(format!("expected reason {want}, got {}", result.reason));
        }
        if let Some(want) = self.expect_status
            && Some(want) != result.status
        {
            out.push(format!("expected status {want}, got {:?}", result.status));
        }
        let wants_target = self.expect_target.is_some()
            || self.expect_target_reason.is_some()
            || self.expect_would_reject.is_some();
        match &result.target {
            None if wants_target => {
                out.push("expects an audit target, but [policy] has no target_enforcement".into())
            }
            None => {}
            Some(t) => {
                if let Some(e) = self.expect_target
                    && e != t.decision
                {
                    out.push(format!(
                        "expected the target to {}, got {} ({})",
                        word(e),
                        word(t.decision),
                        t.reason
                    ));
                }
                if let Some(want) = &self.expect_target_reason
                    && *want != t.reason
                {
                    out.push(format!("expected target reason {want}, got {}", t.reason));
                }
                if let Some(want) = self.expect_would_reject
                    && want != t.would_reject
                {
                    out.push(format!(
                        "expected would_reject {want}, got {}",
                        t.would_reject
                    ));
                }
            }
        }
        out
    }

    fn has_expectation(&self) -> bool {
        self.expect.is_some()
            || self.expect_service_name.is_some()
            || self.expect_no_service_name
            || self.expect_reason.is_some()
            || self.expect_status.is_some()
            || self.expect_target.is_some()
            || self.expect_target_reason.is_some()
            || self.expect_would_reject.is_some()
    }
}

fn word(e: Expectation) -> &'static str {
    match e {
        Expectation::Accept => "accept",
        Expectation::Reject => "reject",
    }
}

fn show_name(n: &Option<String>) -> String {
    match n {
        None => "none".into(),
        Some(s) => format!("{s:?}"),
    }
}

impl Scenario {
    /// Parses and validates a scenario file.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let file: File =
            toml::from_str(text).map_err(|e| ScenarioError::Toml(located(text, &e)))?;
        for case in &file.cases {
            if (case.requires_certificate || case.observe_requires_certificate)
                && case.client_certificate.is_none()
            {
                return Err(ScenarioError::Case {
                    name: case.name.clone(),
                    problem: "requires_certificate / observe_requires_certificate need client_certificate (what the connection's certificate came to)",
                });
            }
            if case.expect_no_service_name && case.expect_service_name.is_some() {
                return Err(ScenarioError::Case {
                    name: case.name.clone(),
                    problem: "expect_service_name and expect_no_service_name contradict each other",
                });
            }
        }
        Ok(Self {
            server: file.policy.build()?,
            target: file.policy.build_target()?,
            cases: file.cases,
        })
    }

    /// Decides every case.
    pub fn evaluate(&self) -> Vec<CaseResult> {
        self.cases
            .iter()
            .map(|case| {
                if let Some(r) = certificate_result(case) {
                    return r;
                }
                let d = decide_audited(&self.server, self.target.as_ref(), &case.facts());
                let mut r = result(&case.name, &d.enforced);
                r.target = d.target.as_ref().map(|t| TargetResult {
                    decision: if t.is_accept() {
                        Expectation::Accept
                    } else {
                        Expectation::Reject
                    },
                    reason: t.reason().code().to_owned(),
                    would_reject: d.would_reject().is_some(),
                });
                r
            })
            .collect()
    }

    /// Cases without any expectation (an error for `policy test`).
    pub fn cases_without_expectation(&self) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(|c| !c.has_expectation())
    }
}

/// The route's certificate rules, checked before any Negotiate leg: a refusal (403.x), or an
/// observed would-be refusal; `None` when neither applies and the decision goes on.
fn certificate_result(case: &Case) -> Option<CaseResult> {
    let status = case.client_certificate?;
    let (enforced, observed) = route_outcome_audited(
        case.requires_certificate,
        case.requires_certificate || case.observe_requires_certificate,
        status,
    );
    let refusal_row = |r: CertificateRefusal| CaseResult {
        name: case.name.clone(),
        decision: Expectation::Reject,
        status: Some(403),
        service_name: None,
        reason: r.code().to_owned(),
        message: format!("{} (IIS 403.{})", r.message(), r.iis_substatus()),
        target: None,
    };
    match (enforced, observed) {
        (RouteOutcome::Forbid(r), _) => Some(refusal_row(r)),
        (RouteOutcome::Allow, Some(r)) => Some(CaseResult {
            name: case.name.clone(),
            decision: Expectation::Accept,
            status: None,
            service_name: None,
            reason: "client-certificate-not-enforced".to_owned(),
            message: format!(
                "the route's certificate requirement is observed, not enforced: {}",
                r.message()
            ),
            target: Some(TargetResult {
                decision: Expectation::Reject,
                reason: r.code().to_owned(),
                would_reject: true,
            }),
        }),
        (RouteOutcome::Allow, None) => None,
    }
}

/// A decision as a report row.
pub fn result(name: &str, d: &Decision) -> CaseResult {
    CaseResult {
        name: name.to_owned(),
        decision: if d.is_accept() {
            Expectation::Accept
        } else {
            Expectation::Reject
        },
        status: d.status(),
        service_name: d.service_name().as_option().map(str::to_owned),
        reason: d.reason().code().to_owned(),
        message: d.reason().message(),
        target: None,
    }
}

/// TOML errors span several lines (a source excerpt); the CLI promises one line, so keep the
/// message and say where.
pub fn located(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use epa_core::decide::Profile;
    use epa_core::policy::{PolicyError, ProtectionScenario};

    const BASE: &str = r#"
[policy]
enforcement = "always"
service_names = ["HTTP/www.contoso.com"]

[[case]]
name = "listed"
transport = "http"
channel_binding = "unbound"
client_spn = "HTTP/WWW.contoso.com"
expect = "accept"
expect_service_name = "HTTP/WWW.contoso.com"

[[case]]
name = "unlisted"
transport = "http"
channel_binding = "unbound"
client_spn = "HTTP/evil.example"
expect = "reject"
expect_reason = "service-name-not-in-list"
expect_status = 401
"#;

    #[test]
    fn evaluates_cases_in_order_and_checks_expectations() {
        let s = Scenario::parse(BASE).unwrap();
        let r = s.evaluate();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].decision, Expectation::Accept);
        assert_eq!(r[1].decision, Expectation::Reject);
        assert_eq!(r[1].status, Some(401));
        for (case, res) in s.cases.iter().zip(&r) {
            assert!(case.failures(res).is_empty(), "{:?}", case.failures(res));
        }
        // A wrong expectation is reported.
        let flipped = BASE.replacen("expect = \"accept\"", "expect = \"reject\"", 1);
        let s = Scenario::parse(&flipped).unwrap();
        let r = s.evaluate();
        assert_eq!(s.cases[0].failures(&r[0]).len(), 1);
    }

    #[test]
    fn invalid_policies_are_errors() {
        let never_with_names = BASE.replace("\"always\"", "\"never\"");
        assert!(matches!(
            Scenario::parse(&never_with_names),
            Err(ScenarioError::Config(ConfigError::Policy(
                PolicyError::NeverTakesNoArguments
            )))
        ));
        let empty = BASE.replace("[\"HTTP/www.contoso.com\"]", "[]");
        assert!(matches!(
            Scenario::parse(&empty),
            Err(ScenarioError::Config(ConfigError::Policy(
                PolicyError::EmptyServiceNames
            )))
        ));
        let empty_item = BASE.replace("[\"HTTP/www.contoso.com\"]", "[\"\"]");
        assert!(matches!(
            Scenario::parse(&empty_item),
            Err(ScenarioError::Config(ConfigError::Policy(
                PolicyError::ServiceName(_)
            )))
        ));
        let both = BASE.replace(
            "enforcement = \"always\"",
            "enforcement = \"always\"\ntoken_checking = \"allow\"",
        );
        assert!(matches!(
            Scenario::parse(&both),
            Err(ScenarioError::Config(ConfigError::Form(_)))
        ));
        let typo = BASE.replace("service_names", "service_name");
        assert!(matches!(
            Scenario::parse(&typo),
            Err(ScenarioError::Toml(_))
        ));
        let bad_enum = BASE.replace("\"unbound\"", "\"maybe\"");
        assert!(matches!(
            Scenario::parse(&bad_enum),
            Err(ScenarioError::Toml(_))
        ));
        assert!(matches!(
            Scenario::parse("[policy"),
            Err(ScenarioError::Toml(_))
        ));
        let bad_prefix = "[policy]\nenforcement = \"always\"\nprefixes = [\"ftp://x/\"]\n";
        assert!(matches!(
            Scenario::parse(bad_prefix),
            Err(ScenarioError::Config(ConfigError::Prefix(_)))
        ));
        let no_names = "[policy]\nenforcement = \"always\"\n";
        assert!(matches!(
            Scenario::parse(no_names),
            Err(ScenarioError::Config(ConfigError::Policy(
                PolicyError::NoServiceNames
            )))
        ));
    }

    #[test]
    fn iis_form_defaults_to_the_iis_profile() {
        let text = r#"
[policy]
token_checking = "require"
flags = ["proxy", "proxy-cohosting"]
spns = ["HTTP/www.contoso.com"]
"#;
        let s = Scenario::parse(text).unwrap();
        assert_eq!(s.server.profile(), Profile::Iis);
        assert_eq!(
            s.server.policy().scenario(),
            ProtectionScenario::TrustedProxy
        );
        let cohost_alone = text.replace("\"proxy\", ", "");
        assert!(matches!(
            Scenario::parse(&cohost_alone),
            Err(ScenarioError::Config(ConfigError::Policy(
                PolicyError::ProxyCohostingWithoutProxy
            )))
        ));
    }

    #[test]
    fn prefixes_give_default_names_with_injected_resolution() {
        let text = r#"
[policy]
enforcement = "always"
prefixes = ["http://+:80/", "http://web01:8080/"]
profile = "dotnet-legacy"
machine_name = "srv01.corp.example"
[policy.hosts]
web01 = "web01.corp.example"
"#;
        let s = Scenario::parse(text).unwrap();
        let names: Vec<&str> = s
            .server
            .acceptable_service_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "HTTP/srv01.corp.example",
                "HTTP/web01",
                "HTTP/web01.corp.example"
            ]
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn scenario_parser_total(text in "\\PC{0,300}") {
            if let Ok(s) = Scenario::parse(&text) {
                let _ = s.evaluate();
            }
        }

        #[test]
        fn scenario_parser_total_on_toml_shaped_input(
            enforcement in "(never|when-supported|always|bogus)",
            names in proptest::collection::vec("[A-Za-z/.:]{0,12}", 0..3),
            cb in "(match|mismatch|absent|unbound|not-checked|x)",
            spn in proptest::option::of("[A-Za-z/.]{0,12}"),
        ) {
            let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            let spn = spn.map(|s| format!("client_spn = {s:?}\n")).unwrap_or_default();
            let text = format!(
                "[policy]\nenforcement = \"{enforcement}\"\nservice_names = [{}]\n[[case]]\nname = \"c\"\ntransport = \"http\"\nchannel_binding = \"{cb}\"\n{spn}",
                names.join(",")
            );
            if let Ok(s) = Scenario::parse(&text) {
                prop_assert_eq!(s.evaluate().len(), 1);
            }
        }
    }
}
