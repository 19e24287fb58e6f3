//! One exchange leg: what a request asks the layer to do ([`Begin`]), the leg run on the
//! backend ([`Leg`], [`LegResult`]), and what the layer then does ([`Outcome`]).

use crate::authenticator::{AuthError, ExpectedBindings, Step};
use crate::connection::{AuthenticatedUser, ConnectionContext, Exchange};
use crate::respond::Reply;
use http::HeaderValue;

pub(super) enum Outcome {
    /// Admit `user`; `token` goes back in `WWW-Authenticate` (mutual authentication).
    Pass {
        user: AuthenticatedUser,
        token: Option<HeaderValue>,
    },
    /// The layer answers itself.
    Respond(Reply),
    /// The observer took the exchange over: the inner service gets these extensions and no
    /// identity, with the accept's token if there was one.
    Report(Box<http::Extensions>, Option<HeaderValue>),
}

impl Outcome {
    /// This outcome, reported instead of admitted: the identity goes nowhere.
    pub(super) fn reported(self, extensions: http::Extensions) -> Self {
        let token = match self {
            Self::Pass { token, .. } => token,
            _ => None,
        };
        Self::Report(Box::new(extensions), token)
    }
}

/// What `call` found to do.
pub(super) enum Begin {
    Done(Outcome),
    /// Boxed: a leg carries the expected bindings, whose payloads are inline.
    Blocking(Box<Leg>),
}

/// One leg of an exchange, movable to a blocking thread.
pub(super) struct Leg {
    pub(super) conn: ConnectionContext,
    pub(super) exchange: Exchange,
    /// The client's token (kept after the step: an observer reads it).
    pub(super) token: Vec<u8>,
    pub(super) expected: Option<ExpectedBindings>,
}

/// A leg and what the backend made of it.
pub(super) struct LegResult {
    pub(super) leg: Leg,
    pub(super) result: Result<Step, AuthError>,
}

impl Leg {
    /// Runs the leg on the backend.
    pub(super) fn run(mut self) -> LegResult {
        let result = self
            .exchange
            .context
            .step(&self.token, self.expected.as_ref());
        LegResult { leg: self, result }
    }
}

/// Whether `token` can only continue an exchange, never start one: an NTLM CHALLENGE or
/// AUTHENTICATE ([MS-NLMP] 2.2.1: `NTLMSSP\0` and the message type), raw or as the first
/// bytes of a SPNEGO `NegTokenResp` (`[1]`, tag 0xa1: RFC 4178 §4.2.2; a first leg is a
/// `NegTokenInit` in an application `[0]` wrapper, tag 0x60).
pub(super) fn later_leg(token: &[u8]) -> bool {
    const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
    if token.first() == Some(&0xa1) {
        return true;
    }
    match token.get(..12) {
        Some(head) if head.starts_with(SIGNATURE) => {
            let kind = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            kind == 2 || kind == 3
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::later_leg;

    #[test]
    fn later_legs_are_challenge_authenticate_and_negtokenresp_only() {
        let ntlm = |kind: u8| {
            let mut t = b"NTLMSSP\0".to_vec();
            t.extend_from_slice(&[kind, 0, 0, 0, 0, 0]);
            t
        };
        assert!(!later_leg(&ntlm(1)), "NEGOTIATE starts an exchange");
        assert!(later_leg(&ntlm(2)));
        assert!(later_leg(&ntlm(3)));
        assert!(!later_leg(&ntlm(4)));
        assert!(
            later_leg(&[0xa1, 0x03, 0x30, 0x01, 0x00]),
            "SPNEGO NegTokenResp"
        );
        assert!(
            !later_leg(&[0x60, 0x03, 0x06, 0x01, 0x00]),
            "SPNEGO NegTokenInit"
        );
        assert!(!later_leg(b"NTLMSSP\0\x03"), "too short to carry a type");
        assert!(!later_leg(&[]));
    }
}
