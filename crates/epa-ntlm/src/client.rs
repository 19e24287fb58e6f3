//! A minimal NTLMv2 initiator (MS-NLMP §3.1.5), for tests and load generation: it lets a test
//! choose exactly what the client puts in its token (a binding, none, the all-zero value, a
//! target name, a MIC) — which real clients do not let you vary. Behind the `initiator` feature
//! (enabled by epa-hyper's `test-util`): not part of a production build.

use crate::crypto;
use crate::error::NtlmError;
use crate::wire::{self, av, av_flags, flags};

/// What the client sends in `MsvAvChannelBindings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBinding {
    /// No AV pair at all (a legacy client).
    Absent,
    /// Sixteen zero bytes (a client that supports EP but has no channel).
    Unbound,
    /// This MD5 of a GSS channel-bindings struct.
    Hash([u8; 16]),
}

/// One client exchange.
#[derive(Debug, Clone)]
pub struct NtlmClient {
    domain: String,
    user: String,
    nt_hash: crypto::Key16,
    binding: ClientBinding,
    target_name: Option<String>,
    mic: bool,
    negotiate: Vec<u8>,
}

impl NtlmClient {
    /// A client for `domain\user` with `password`, sending a MIC, no binding and no target name.
    pub fn new(domain: &str, user: &str, password: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            user: user.to_owned(),
            nt_hash: crypto::nt_hash(password),
            binding: ClientBinding::Absent,
            target_name: None,
            mic: true,
            negotiate: Vec::new(),
        }
    }

    /// Sets what goes into `MsvAvChannelBindings`.
    pub fn binding(mut self, binding: ClientBinding) -> Self {
        self.binding = binding;
        self
    }

    /// Sets `MsvAvTargetName` (the SPN the client means).
    pub fn target_name(mut self, spn: Option<&str>) -> Self {
        self.target_name = spn.map(str::to_owned);
        self
    }

    /// Whether to send a MIC (and announce it in `MsvAvFlags`).
    pub fn mic(mut self, mic: bool) -> Self {
        self.mic = mic;
        self
    }

    /// The NEGOTIATE_MESSAGE.
    pub fn negotiate(&mut self) -> Vec<u8> {
        let f = flags::UNICODE
            | flags::REQUEST_TARGET
            | flags::NTLM
            | flags::ALWAYS_SIGN
            | flags::EXTENDED_SESSIONSECURITY
            | flags::VERSION
            | flags::N128
            | flags::KEY_EXCH
            | flags::N56;
        let mut m = wire::SIGNATURE.to_vec();
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&f.to_le_bytes());
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        self.negotiate = m.clone();
        m
    }

    /// The AUTHENTICATE_MESSAGE answering `challenge`.
    pub fn authenticate(&self, challenge: &[u8]) -> Result<Vec<u8>, NtlmError> {
        let (server_challenge, server_info) = read_challenge(challenge)?;
        let (pairs, timestamp) = self.target_info(server_info)?;

        let client_challenge = random16();
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&timestamp);
        blob.extend_from_slice(&client_challenge[..8]);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&pairs);
        blob.extend_from_slice(&[0; 4]);

        let key = crypto::ntowf_v2(&self.nt_hash, &self.user, &self.domain);
        let proof = crypto::nt_proof(&key, &server_challenge, &blob);
        let mut nt_response = proof.to_vec();
        nt_response.extend_from_slice(&blob);
        let session_base_key = crypto::hmac_md5(key.as_slice(), &[proof.as_slice()]);
        let exported = random16();
        let encrypted = crypto::rc4(&session_base_key, &exported);

        let mut m = self.authenticate_message(&nt_response, encrypted.as_slice());
        if self.mic {
            let mic = crypto::hmac_md5(&exported, &[&self.negotiate, challenge, &m]);
            m[wire::MIC_OFFSET..wire::MIC_OFFSET + 16].copy_from_slice(mic.as_slice());
        }
        Ok(m)
    }

    /// The client's AV pairs: the server's, then `MsvAvFlags`, the binding and the target name
    /// as configured; and the server's timestamp.
    fn target_info(&self, server_info: &[u8]) -> Result<(Vec<u8>, [u8; 8]), NtlmError> {
        let mut pairs = Vec::new();
        let mut timestamp = [0u8; 8];
        for pair in wire::AvPairs(server_info).iter() {
            let (id, value) = pair?;
            if id == av::TIMESTAMP {
                timestamp.copy_from_slice(value.get(..8).ok_or(NtlmError::Malformed("timestamp"))?);
            }
            wire::push_av(&mut pairs, id, value);
        }
        if self.mic {
            wire::push_av(&mut pairs, av::FLAGS, &av_flags::MIC_PRESENT.to_le_bytes());
        }
        match self.binding {
            ClientBinding::Absent => {}
            ClientBinding::Unbound => wire::push_av(&mut pairs, av::CHANNEL_BINDINGS, &[0; 16]),
            ClientBinding::Hash(h) => wire::push_av(&mut pairs, av::CHANNEL_BINDINGS, &h),
        }
        if let Some(spn) = &self.target_name {
            wire::push_av(&mut pairs, av::TARGET_NAME, &wire::utf16le(spn));
        }
        wire::push_av(&mut pairs, av::EOL, &[]);
        Ok((pairs, timestamp))
    }

    /// The AUTHENTICATE_MESSAGE with a zero MIC field.
    fn authenticate_message(&self, nt_response: &[u8], encrypted_key: &[u8]) -> Vec<u8> {
        let domain = wire::utf16le(&self.domain);
        let user = wire::utf16le(&self.user);
        let workstation = wire::utf16le("CLIENT");
        let lm = [0u8; 24];
        let payloads: [&[u8]; 6] = [
            &lm,
            nt_response,
            &domain,
            &user,
            &workstation,
            encrypted_key,
        ];
        let mut offsets = [0usize; 6];
        let mut at = 88;
        for (i, p) in payloads.iter().enumerate() {
            offsets[i] = at;
            at += p.len();
        }
        let mut m = wire::SIGNATURE.to_vec();
        m.extend_from_slice(&3u32.to_le_bytes());
        for (p, off) in payloads.iter().zip(offsets) {
            m.extend_from_slice(&(p.len() as u16).to_le_bytes());
            m.extend_from_slice(&(p.len() as u16).to_le_bytes());
            m.extend_from_slice(&(off as u32).to_le_bytes());
        }
        let f = flags::UNICODE
            | flags::NTLM
            | flags::ALWAYS_SIGN
            | flags::EXTENDED_SESSIONSECURITY
            | flags::TARGET_INFO
            | flags::VERSION
            | flags::N128
            | flags::KEY_EXCH
            | flags::N56;
        m.extend_from_slice(&f.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        m.extend_from_slice(&[0; 16]);
        for p in payloads {
            m.extend_from_slice(p);
        }
        m
    }
}

/// The server challenge and the target information of a CHALLENGE_MESSAGE.
fn read_challenge(challenge: &[u8]) -> Result<([u8; 8], &[u8]), NtlmError> {
    if wire::message_type(challenge)? != 2 {
        return Err(NtlmError::UnexpectedMessage { expected: 2 });
    }
    let server_challenge: [u8; 8] = challenge
        .get(24..32)
        .and_then(|s| s.try_into().ok())
        .ok_or(NtlmError::Malformed("CHALLENGE too short"))?;
    let info_len = challenge
        .get(40..42)
        .ok_or(NtlmError::Malformed("CHALLENGE too short"))?;
    let info_len = u16::from_le_bytes([info_len[0], info_len[1]]) as usize;
    let info_off = challenge
        .get(44..48)
        .ok_or(NtlmError::Malformed("CHALLENGE too short"))?;
    let info_off =
        u32::from_le_bytes([info_off[0], info_off[1], info_off[2], info_off[3]]) as usize;
    let info = challenge
        .get(info_off..info_off + info_len)
        .ok_or(NtlmError::Malformed("TargetInfo out of bounds"))?;
    Ok((server_challenge, info))
}

fn random16() -> [u8; 16] {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    // A failing system RNG in a test client only weakens the test's client challenge.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}
