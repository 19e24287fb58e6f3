//! What an NTLM AUTHENTICATE message says, read for the report without verifying anything:
//! the response version, the negotiate flags, `MsvAvFlags`, `MsvAvTargetName` and
//! `MsvAvChannelBindings`. The values are the client's claims (the report shows them to the
//! client that sent them); whether the backend verified the message is said separately.

use epa_hyper::ntlm::wire::{self, av, av_flags};
use epa_hyper::telemetry::ClientText;
use serde::Serialize;

/// MS-NLMP §2.2.2.5 negotiate flags, by bit.
const FLAG_NAMES: [(u32, &str); 22] = [
    (0x0000_0001, "NEGOTIATE_UNICODE"),
    (0x0000_0002, "NEGOTIATE_OEM"),
    (0x0000_0004, "REQUEST_TARGET"),
    (0x0000_0010, "NEGOTIATE_SIGN"),
    (0x0000_0020, "NEGOTIATE_SEAL"),
    (0x0000_0040, "NEGOTIATE_DATAGRAM"),
    (0x0000_0080, "NEGOTIATE_LM_KEY"),
    (0x0000_0200, "NEGOTIATE_NTLM"),
    (0x0000_0800, "ANONYMOUS"),
    (0x0000_1000, "NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
    (0x0000_2000, "NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
    (0x0000_8000, "NEGOTIATE_ALWAYS_SIGN"),
    (0x0001_0000, "TARGET_TYPE_DOMAIN"),
    (0x0002_0000, "TARGET_TYPE_SERVER"),
    (0x0008_0000, "NEGOTIATE_EXTENDED_SESSIONSECURITY"),
    (0x0010_0000, "NEGOTIATE_IDENTIFY"),
    (0x0040_0000, "REQUEST_NON_NT_SESSION_KEY"),
    (0x0080_0000, "NEGOTIATE_TARGET_INFO"),
    (0x0200_0000, "NEGOTIATE_VERSION"),
    (0x2000_0000, "NEGOTIATE_128"),
    (0x4000_0000, "NEGOTIATE_KEY_EXCH"),
    (0x8000_0000, "NEGOTIATE_56"),
];

/// MS-NLMP §2.2.2.1 `MsvAvFlags` bits.
const AV_FLAG_NAMES: [(u32, &str); 3] = [
    (0x1, "account-authentication-constrained"),
    (av_flags::MIC_PRESENT, "mic-present"),
    (av_flags::UNTRUSTED_SPN, "spn-from-untrusted-source"),
];

/// The names of the set bits, unknown ones as `0x…`.
fn names(bits: u32, table: &[(u32, &'static str)]) -> Vec<String> {
    (0..32)
        .map(|i| 1u32 << i)
        .filter(|b| bits & b != 0)
        .map(|b| {
            table
                .iter()
                .find(|(v, _)| *v == b)
                .map_or_else(|| format!("{b:#010x}"), |(_, n)| (*n).to_owned())
        })
        .collect()
}

/// The response the client computed (only NTLMv2 is ever accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseVersion {
    /// An NTLMv2 response.
    Ntlmv2,
    /// A 24-byte NTLMv1 response (refused).
    Ntlmv1,
    /// No NT response: LM only, or anonymous (refused).
    LmOrAnonymous,
    /// An NT response that is neither (refused as malformed).
    Unreadable,
}

impl ResponseVersion {
    /// The JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ntlmv2 => "ntlmv2",
            Self::Ntlmv1 => "ntlmv1",
            Self::LmOrAnonymous => "lm-or-anonymous",
            Self::Unreadable => "unreadable",
        }
    }
}

/// `MsvAvChannelBindings` as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentBinding {
    /// No such AV pair (a client without Extended Protection).
    Absent,
    /// Sixteen zero bytes (supports Extended Protection, had no channel to bind).
    AllZero,
    /// A 16-byte MD5 of a `gss_channel_bindings_struct`.
    Value([u8; 16]),
    /// Present but not 16 bytes, or the AV pair list is unreadable.
    Malformed,
}

/// What one AUTHENTICATE message claims.
#[derive(Debug, Clone, Serialize)]
pub struct NtlmFacts {
    /// NTLMv2 or not.
    pub response: ResponseVersion,
    /// The negotiate flags, by name.
    pub flags: Vec<String>,
    /// The negotiate flags as a number.
    pub flags_hex: String,
    /// `MsvAvFlags`, by name (absent: none).
    pub av_flags: Vec<String>,
    /// Whether `MsvAvFlags` announces a MIC.
    pub mic_present: bool,
    /// `MsvAvTargetName` as sent (escaped, capped), whether or not it is trusted.
    pub target_name: Option<String>,
    /// `DOMAIN\user` as typed (escaped, capped): what the client sent, not an identity.
    pub user_sent: String,
    /// `MsvAvChannelBindings` as sent.
    #[serde(skip)]
    pub binding: SentBinding,
}

impl NtlmFacts {
    /// Reads an AUTHENTICATE message; `None` when it is not one (a NEGOTIATE, garbage).
    pub fn read(msg: &[u8]) -> Option<Self> {
        let auth = wire::parse_authenticate(msg).ok()?;
        let response = match auth.nt_response.len() {
            0 => ResponseVersion::LmOrAnonymous,
            24 => ResponseVersion::Ntlmv1,
            n if n >= 16 + 28 && auth.nt_response.get(16..18) == Some(&[1, 1]) => {
                ResponseVersion::Ntlmv2
            }
            _ => ResponseVersion::Unreadable,
        };
        let pairs = (response == ResponseVersion::Ntlmv2)
            .then(|| auth.nt_response.get(16 + 28..).map(wire::AvPairs))
            .flatten();
        let av_flag_bits = pairs
            .and_then(|p| p.get(av::FLAGS).ok().flatten())
            .and_then(|v| v.try_into().ok().map(u32::from_le_bytes))
            .unwrap_or(0);
        let target_name = pairs
            .and_then(|p| p.get(av::TARGET_NAME).ok().flatten())
            .map(|v| match wire::from_utf16le(v, "") {
                Ok(s) => ClientText(&s).to_string(),
                Err(_) => "(not UTF-16)".to_owned(),
            });
        let binding = match pairs.map(|p| p.get(av::CHANNEL_BINDINGS)) {
            None | Some(Ok(None)) => SentBinding::Absent,
            Some(Ok(Some(v))) => match <[u8; 16]>::try_from(v) {
                Ok(h) if h == [0; 16] => SentBinding::AllZero,
                Ok(h) => SentBinding::Value(h),
                Err(_) => SentBinding::Malformed,
            },
            Some(Err(_)) => SentBinding::Malformed,
        };
        let user = if auth.domain.is_empty() {
            auth.user.clone()
        } else {
            format!("{}\\{}", auth.domain, auth.user)
        };
        Some(Self {
            response,
            flags: names(auth.flags, &FLAG_NAMES),
            flags_hex: format!("{:#010x}", auth.flags),
            av_flags: names(av_flag_bits, &AV_FLAG_NAMES),
            mic_present: av_flag_bits & av_flags::MIC_PRESENT != 0,
            target_name,
            user_sent: ClientText(&user).to_string(),
            binding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use epa_hyper::ntlm::client::{ClientBinding, NtlmClient};

    fn challenge() -> Vec<u8> {
        let mut info = Vec::new();
        wire::push_av(&mut info, av::NB_DOMAIN_NAME, &wire::utf16le("D"));
        wire::push_av(&mut info, av::TIMESTAMP, &0u64.to_le_bytes());
        wire::push_av(&mut info, av::EOL, &[]);
        wire::build_challenge(0xe28a_8235 | 1, &[7; 8], "D", &info)
    }

    #[test]
    fn reads_what_the_client_sent() {
        let mut c = NtlmClient::new("D", "u\u{202e}x", "pw")
            .binding(ClientBinding::Hash([9; 16]))
            .target_name(Some("HTTP/<b>"));
        c.negotiate();
        let msg = c.authenticate(&challenge()).unwrap();
        let f = NtlmFacts::read(&msg).unwrap();
        assert_eq!(f.response, ResponseVersion::Ntlmv2);
        assert!(f.mic_present, "{f:?}");
        assert!(f.flags.iter().any(|n| n == "NEGOTIATE_UNICODE"));
        assert_eq!(f.target_name.as_deref(), Some("HTTP/<b>"));
        assert_eq!(f.user_sent, "D\\u\\u{202e}x");
        assert_eq!(f.binding, SentBinding::Value([9; 16]));

        let mut c = NtlmClient::new("D", "u", "pw")
            .binding(ClientBinding::Absent)
            .mic(false);
        c.negotiate();
        let f = NtlmFacts::read(&c.authenticate(&challenge()).unwrap()).unwrap();
        assert_eq!(f.binding, SentBinding::Absent);
        assert!(!f.mic_present);
        assert_eq!(f.target_name, None);
        // Not an AUTHENTICATE, and every truncation: no panic, no facts or partial facts.
        assert!(NtlmFacts::read(&c.negotiate()).is_none());
        let msg = c.authenticate(&challenge()).unwrap();
        for n in 0..msg.len() {
            let _ = NtlmFacts::read(&msg[..n]);
        }
    }

    #[test]
    fn unknown_bits_are_named_by_value() {
        assert_eq!(
            names(0x8 | 0x1, &FLAG_NAMES),
            ["NEGOTIATE_UNICODE", "0x00000008"]
        );
    }
}
