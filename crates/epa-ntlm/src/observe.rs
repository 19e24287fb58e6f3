//! What an NTLMv2 AUTHENTICATE's AV pairs say about the channel binding and the target name,
//! for the acceptor (after verification) and for other backends ([`inspect_authenticate`]).

use crate::error::NtlmError;
use crate::wire::{self, av, av_flags};
use epa_core::authenticator::ExpectedBindings;
use epa_core::decide::{BindingObservation, ClientServiceName};

/// What an NTLMv2 AV-pair list says about the channel binding and the target name
/// (MS-NLMP §2.2.2.1; `MsvAvFlags` 0x4 makes the target name untrusted, hence absent).
pub(crate) fn observe(
    pairs: &wire::AvPairs<'_>,
    av_flag_bits: u32,
    expected: Option<&ExpectedBindings>,
) -> Result<(BindingObservation, ClientServiceName), NtlmError> {
    let channel_binding = match pairs.get(av::CHANNEL_BINDINGS)? {
        None => BindingObservation::Absent,
        Some(v) => {
            let hash = epa_core::ChannelBindingsHash(
                v.try_into()
                    .map_err(|_| NtlmError::Malformed("MsvAvChannelBindings is not 16 bytes"))?,
            );
            match expected {
                _ if hash.is_unbound() => BindingObservation::Unbound,
                Some(e) if hash.ct_eq(e.md5()) => BindingObservation::Match,
                _ => BindingObservation::Mismatch,
            }
        }
    };
    let client_spn = if av_flag_bits & av_flags::UNTRUSTED_SPN != 0 {
        ClientServiceName::Missing
    } else {
        match pairs.get(av::TARGET_NAME)? {
            None => ClientServiceName::Missing,
            Some(v) => ClientServiceName::from_option(Some(&wire::from_utf16le(
                v,
                "MsvAvTargetName is not UTF-16",
            )?)),
        }
    };
    Ok((channel_binding, client_spn))
}

/// Reads, without verifying anything, what a raw NTLMSSP AUTHENTICATE message claims about its
/// channel binding and target name. For backends whose NTLM acceptor does not report these
/// (gss-ntlmssp): the values may only be trusted once that acceptor has verified the message,
/// whose NTProofStr covers the AV pairs. `None` for anything that is not a well-formed
/// NTLMv2 AUTHENTICATE.
pub fn inspect_authenticate(
    token: &[u8],
    expected: Option<&ExpectedBindings>,
) -> Option<(BindingObservation, ClientServiceName)> {
    let auth = wire::parse_authenticate(token).ok()?;
    let blob = auth.nt_response.get(16..)?;
    let pairs = wire::AvPairs(blob.get(28..)?);
    let av_flag_bits = av_flag_bits(&pairs).ok()?;
    observe(&pairs, av_flag_bits, expected).ok()
}

/// The `MsvAvFlags` bits (0 when the pair is absent).
pub(crate) fn av_flag_bits(pairs: &wire::AvPairs<'_>) -> Result<u32, NtlmError> {
    match pairs.get(av::FLAGS)? {
        Some(v) => {
            Ok(u32::from_le_bytes(v.try_into().map_err(|_| {
                NtlmError::Malformed("MsvAvFlags is not 4 bytes")
            })?))
        }
        None => Ok(0),
    }
}
