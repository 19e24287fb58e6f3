//! One `AcceptSecurityContext` leg: the buffers it reads and writes, the call with
//! `CompleteAuthToken`, and what its statuses mean.
#![allow(unsafe_code)]

use super::{OPEN_CONTEXTS, SspiContext};
use crate::context::output_token_len;
use epa_core::authenticator::{AuthError, ExpectedBindings};
use epa_core::decide::Mechanism;
use std::ptr;
use std::sync::atomic::Ordering;
use windows_sys::Win32::Foundation::{
    SEC_E_BAD_BINDINGS, SEC_E_INVALID_TOKEN, SEC_E_OK, SEC_I_COMPLETE_AND_CONTINUE,
    SEC_I_COMPLETE_NEEDED, SEC_I_CONTINUE_NEEDED,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    AcceptSecurityContext, CompleteAuthToken, SECBUFFER_CHANNEL_BINDINGS,
    SECBUFFER_CHANNEL_BINDINGS_RESULT, SECBUFFER_TOKEN, SECBUFFER_VERSION, SECURITY_NATIVE_DREP,
    SecBuffer, SecBufferDesc,
};
use windows_sys::Win32::Security::Credentials::SecHandle;

/// The buffers of one `AcceptSecurityContext` leg, owned here so that they outlive the call:
/// the client's token and channel bindings in, the reply token and the binding result out.
pub(super) struct LegBuffers {
    token: Vec<u8>,
    /// The `SEC_CHANNEL_BINDINGS` structure; empty when none is expected.
    bindings: Vec<u8>,
    /// Caller-allocated (no ASC_REQ_ALLOCATE_MEMORY): `cbMaxToken` bytes, of which SSPI
    /// reports in `cbBuffer` how many it wrote.
    pub(super) out_token: Vec<u8>,
    /// The `SECBUFFER_CHANNEL_BINDINGS_RESULT` flags.
    pub(super) result_flags: u32,
}

impl LegBuffers {
    /// Copies of the client's `token` and of the `expected` channel bindings, and an output
    /// token buffer of `max_token` bytes.
    pub(super) fn new(
        token: &[u8],
        expected: Option<&ExpectedBindings>,
        max_token: usize,
    ) -> Result<Self, AuthError> {
        let bindings = match expected.map(|e| e.gss().to_sec_channel_bindings()) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Err(AuthError::LogonDenied(e.to_string())),
            None => None,
        };
        Ok(Self {
            token: token.to_vec(),
            bindings: bindings.unwrap_or_default(),
            out_token: vec![0u8; max_token],
            result_flags: 0,
        })
    }

    /// Whether a channel binding goes to SSPI.
    pub(super) fn binding_given(&self) -> bool {
        !self.bindings.is_empty()
    }

    /// The input buffers (the token, then the channel bindings when given) and the output
    /// buffers (the token, the binding result), pointing into `self`.
    fn sec_buffers(&mut self) -> (Vec<SecBuffer>, [SecBuffer; 2]) {
        let mut inputs = vec![SecBuffer {
            cbBuffer: self.token.len() as u32,
            BufferType: SECBUFFER_TOKEN,
            pvBuffer: self.token.as_mut_ptr().cast(),
        }];
        if !self.bindings.is_empty() {
            inputs.push(SecBuffer {
                cbBuffer: self.bindings.len() as u32,
                BufferType: SECBUFFER_CHANNEL_BINDINGS,
                pvBuffer: self.bindings.as_mut_ptr().cast(),
            });
        }
        let outputs = [
            SecBuffer {
                cbBuffer: self.out_token.len() as u32,
                BufferType: SECBUFFER_TOKEN,
                pvBuffer: self.out_token.as_mut_ptr().cast(),
            },
            SecBuffer {
                cbBuffer: 4,
                BufferType: SECBUFFER_CHANNEL_BINDINGS_RESULT,
                pvBuffer: (&mut self.result_flags as *mut u32).cast(),
            },
        ];
        (inputs, outputs)
    }
}

/// What one `AcceptSecurityContext` call answered.
pub(super) struct Accepted {
    status: i32,
    /// `CompleteAuthToken`'s status, when SSPI asked for it and a context exists.
    completion: Option<i32>,
}

/// Where a leg goes after its status.
pub(super) enum Next {
    /// Another leg: send the reply token.
    Continue,
    /// The context is complete.
    Complete,
}

impl SspiContext {
    /// One `AcceptSecurityContext` call over `leg`'s buffers: keeps the context it creates,
    /// runs `CompleteAuthToken` when SSPI asks, and truncates the reply token to what SSPI
    /// wrote.
    pub(super) fn accept(&mut self, leg: &mut LegBuffers) -> Result<Accepted, AuthError> {
        let (mut inputs, mut outputs) = leg.sec_buffers();
        let input = SecBufferDesc {
            ulVersion: SECBUFFER_VERSION,
            cBuffers: inputs.len() as u32,
            pBuffers: inputs.as_mut_ptr(),
        };
        let mut output = SecBufferDesc {
            ulVersion: SECBUFFER_VERSION,
            cBuffers: 2,
            pBuffers: outputs.as_mut_ptr(),
        };
        let mut new_handle = SecHandle {
            dwLower: 0,
            dwUpper: 0,
        };
        let mut attrs = 0u32;
        let mut expiry = 0i64;
        let previous = self
            .handle
            .as_ref()
            .map_or(ptr::null(), |h| h as *const SecHandle);
        // SAFETY: every buffer above (and `leg`'s, which they point into) outlives the call; the
        // credential is valid; the context handle is either null (first leg) or the one SSPI
        // gave us; the output token buffer holds `cbBuffer` writable bytes.
        let status = unsafe {
            AcceptSecurityContext(
                &self.acceptor.credential.0,
                previous,
                &input,
                self.acceptor.flags,
                SECURITY_NATIVE_DREP,
                &mut new_handle,
                &mut output,
                &mut attrs,
                &mut expiry,
            )
        };
        // A context exists once a leg did not fail (an error on the first leg creates none).
        if self.handle.is_none()
            && status >= 0
            && (new_handle.dwLower != 0 || new_handle.dwUpper != 0)
        {
            self.handle = Some(new_handle);
            OPEN_CONTEXTS.fetch_add(1, Ordering::SeqCst);
        }
        // CompleteAuthToken reads the output token, so it runs before the token is truncated.
        let completion = match (status, &self.handle) {
            (SEC_I_COMPLETE_NEEDED | SEC_I_COMPLETE_AND_CONTINUE, Some(h)) => {
                // SAFETY: `h` is the context AcceptSecurityContext just returned; `output` is the
                // descriptor it filled, whose token buffer is still alive.
                Some(unsafe { CompleteAuthToken(h, &output) })
            }
            _ => None,
        };
        let written = if status >= 0 {
            output_token_len(outputs[0].cbBuffer, leg.out_token.len())?
        } else {
            0
        };
        leg.out_token.truncate(written);
        Ok(Accepted { status, completion })
    }
}

/// What a leg's statuses mean: another leg, a complete context, or the error to report
/// (`SEC_E_BAD_BINDINGS` as a binding failure, with the provider's `result_flags`).
pub(super) fn next(accepted: &Accepted, result_flags: u32) -> Result<Next, AuthError> {
    let status = accepted.status;
    match status {
        SEC_E_BAD_BINDINGS => Err(AuthError::BadBindings {
            mechanism: Mechanism::Other,
            observation: crate::refused_observation(result_flags),
        }),
        SEC_I_CONTINUE_NEEDED => Ok(Next::Continue),
        SEC_I_COMPLETE_NEEDED | SEC_I_COMPLETE_AND_CONTINUE => {
            match accepted.completion {
                Some(SEC_E_OK) => {}
                Some(other) => {
                    return Err(AuthError::LogonDenied(format!(
                        "SSPI CompleteAuthToken status 0x{:08x}",
                        other as u32
                    )));
                }
                None => {
                    return Err(AuthError::LogonDenied(
                        "SSPI asked for CompleteAuthToken without a context".into(),
                    ));
                }
            }
            if status == SEC_I_COMPLETE_AND_CONTINUE {
                Ok(Next::Continue)
            } else {
                Ok(Next::Complete)
            }
        }
        SEC_E_OK => Ok(Next::Complete),
        SEC_E_INVALID_TOKEN => Err(AuthError::InvalidToken(format!(
            "SSPI status 0x{:08x}",
            status as u32
        ))),
        other => Err(AuthError::LogonDenied(format!(
            "SSPI status 0x{:08x}",
            other as u32
        ))),
    }
}
