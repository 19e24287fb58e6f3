//! What an authentication leg ended with, for whoever wants to know: a [`LegObserver`] (the
//! shape of tower-http's `OnFailure`, with `()` as the no-op). The layer calls it once per
//! exchange that ends — completed (accepted or refused by the decision), refused by the
//! security package over the binding, or failed in the backend — never on a continuation leg.
//!
//! An observer only watches ([`Observed::Proceed`]), or takes the exchange over as a report
//! ([`Observed::Report`]): the request then reaches the inner service with the observer's
//! extensions and *without* an identity, and nothing is kept on the connection. The
//! diagnostics page (`epa_server::diagnose`) is such an observer; it does not replace the
//! response, it hands its report to the page behind the layer.

use crate::authenticator::{AuthError, Completion, ExpectedBindings};
use crate::connection::ChannelFacts;
use epa_core::decide::{BindingObservation, Decision, Mechanism, ServerPolicy};

/// How a leg ended the exchange.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LegVerdict<'a> {
    /// The backend completed it; `decision` is what the layer's policy decided (it may refuse).
    Completed {
        /// What the backend reported.
        done: &'a Completion,
        /// The enforced decision.
        decision: &'a Decision,
    },
    /// The security package refused the binding before completing (GSSAPI, SSPI).
    RefusedBinding {
        /// The mechanism the package ran.
        mechanism: Mechanism,
        /// What it saw of the binding.
        observation: BindingObservation,
    },
    /// The backend failed the leg (refused credentials, bad token, unavailable, …).
    Failed(&'a AuthError),
}

/// What the layer knew when a leg ended the exchange.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LegEnd<'a> {
    /// The layer's policy.
    pub route: &'a ServerPolicy,
    /// The audit target's policy, in audit mode.
    pub target: Option<&'a ServerPolicy>,
    /// The connection's channel facts.
    pub channel: &'a ChannelFacts,
    /// The last leg's token, as the client sent it (unverified).
    pub token: &'a [u8],
    /// The binding handed to the backend for that leg.
    pub expected: Option<&'a ExpectedBindings>,
    /// The mechanisms the layer's backend can complete.
    pub backend: epa_core::decide::Mechanisms,
    /// How the exchange ended.
    pub verdict: LegVerdict<'a>,
}

/// What an observer asks of the layer after a leg.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Observed {
    /// Go on as the layer would (admit, refuse, answer).
    #[default]
    Proceed,
    /// Hand the request to the inner service with these extensions and no identity (an
    /// accept's mutual-authentication token still goes back); nothing is kept on the connection.
    Report(http::Extensions),
}

/// Observes the end of each exchange of an [`crate::ExtendedProtectionLayer`].
pub trait LegObserver: Send + Sync + 'static {
    /// Called once when a leg ends the exchange (never for a continuation).
    fn on_leg_end(&self, end: &LegEnd<'_>) -> Observed;
}

/// The no-op observer (the default).
impl LegObserver for () {
    fn on_leg_end(&self, _: &LegEnd<'_>) -> Observed {
        Observed::Proceed
    }
}
