//! The SSPI FFI. Every `unsafe` block states the invariant it relies on.
#![allow(unsafe_code)]

use crate::{BindingChecks, SspiPolicyError};
use epa_core::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism, ServerPolicy};
use std::ptr;
use std::sync::Arc;
use windows_sys::Win32::Foundation::{
    SEC_E_BAD_BINDINGS, SEC_E_INVALID_TOKEN, SEC_E_OK, SEC_I_COMPLETE_AND_CONTINUE,
    SEC_I_COMPLETE_NEEDED, SEC_I_CONTINUE_NEEDED,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    ASC_REQ_ALLOCATE_MEMORY, ASC_REQ_ALLOW_MISSING_BINDINGS, ASC_REQ_CONNECTION,
    ASC_REQ_PROXY_BINDINGS, AcceptSecurityContext, AcquireCredentialsHandleW, CompleteAuthToken,
    DeleteSecurityContext, FreeContextBuffer, FreeCredentialsHandle, QueryContextAttributesW,
    SECBUFFER_CHANNEL_BINDINGS, SECBUFFER_CHANNEL_BINDINGS_RESULT, SECBUFFER_TOKEN,
    SECBUFFER_VERSION, SECPKG_ATTR_CLIENT_SPECIFIED_TARGET, SECPKG_ATTR_NAMES,
    SECPKG_ATTR_PACKAGE_INFO, SECPKG_CRED_INBOUND, SECURITY_NATIVE_DREP, SecBuffer, SecBufferDesc,
    SecPkgContext_ClientSpecifiedTarget, SecPkgContext_NamesW, SecPkgContext_PackageInfoW,
};
use windows_sys::Win32::Security::Credentials::SecHandle;

/// The SSPI acceptor cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SspiError {
    /// `AcquireCredentialsHandleW` failed with this status.
    #[error("SSPI error 0x{:08x} acquiring the inbound Negotiate credential", *.0 as u32)]
    Acquire(i32),
    /// The policy asks for something SSPI does not check.
    #[error(transparent)]
    Policy(#[from] SspiPolicyError),
}

struct Credential(SecHandle);

// SAFETY: an SSPI credential handle may be used from any thread (SSPI serialises internally);
// it is only freed in Drop, once.
unsafe impl Send for Credential {}
// SAFETY: as above; AcceptSecurityContext takes it by const pointer.
unsafe impl Sync for Credential {}

impl Drop for Credential {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful AcquireCredentialsHandleW and is freed once.
        unsafe { FreeCredentialsHandle(&self.0) };
    }
}

/// The SSPI acceptor: one inbound `Negotiate` credential shared by all connections.
#[derive(Clone)]
pub struct SspiAcceptor {
    credential: Arc<Credential>,
    flags: u32,
    checks: BindingChecks,
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 string from SSPI.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string that stays valid during the call.
unsafe fn from_wide(p: *const u16) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: guaranteed NUL-terminated by the caller.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    Some(String::from_utf16_lossy(unsafe {
        std::slice::from_raw_parts(p, len)
    }))
}

impl SspiAcceptor {
    /// Acquires the process's inbound `Negotiate` credential; the request flags follow the
    /// policy as `HttpListener`'s `GetContextFlags` does. A policy that verifies a trusted
    /// proxy's binding is refused ([`SspiPolicyError::ProxyBindingNotVerifiable`]).
    pub fn new(policy: &ServerPolicy) -> Result<Self, SspiError> {
        let checks = BindingChecks::for_policy(policy)?;
        let mut flags = ASC_REQ_CONNECTION | ASC_REQ_ALLOCATE_MEMORY;
        if checks.allow_missing {
            flags |= ASC_REQ_ALLOW_MISSING_BINDINGS;
        }
        if checks.proxy {
            flags |= ASC_REQ_PROXY_BINDINGS;
        }
        let package = wide("Negotiate");
        let mut handle = SecHandle {
            dwLower: 0,
            dwUpper: 0,
        };
        let mut expiry = 0i64;
        // SAFETY: `package` is NUL-terminated and outlives the call; the out-pointers are valid.
        let status = unsafe {
            AcquireCredentialsHandleW(
                ptr::null(),
                package.as_ptr(),
                SECPKG_CRED_INBOUND,
                ptr::null(),
                ptr::null(),
                None,
                ptr::null(),
                &mut handle,
                &mut expiry,
            )
        };
        if status != SEC_E_OK {
            return Err(SspiError::Acquire(status));
        }
        Ok(Self {
            credential: Arc::new(Credential(handle)),
            flags,
            checks,
        })
    }
}

impl Authenticator for SspiAcceptor {
    fn schemes(&self) -> &[Scheme] {
        &[Scheme::Negotiate, Scheme::Ntlm]
    }

    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(SspiContext {
            acceptor: self.clone(),
            handle: None,
        })
    }
}

struct SspiContext {
    acceptor: SspiAcceptor,
    handle: Option<SecHandle>,
}

// SAFETY: an SSPI context handle is not tied to a thread; the layer uses one context from one
// task at a time, behind a mutex.
unsafe impl Send for SspiContext {}

impl Drop for SspiContext {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            // SAFETY: created by AcceptSecurityContext and deleted once.
            unsafe { DeleteSecurityContext(h) };
        }
    }
}

impl SspiContext {
    fn query_string(&self, attribute: u32) -> Option<String> {
        let handle = self.handle.as_ref()?;
        match attribute {
            SECPKG_ATTR_NAMES => {
                let mut names = SecPkgContext_NamesW {
                    sUserName: ptr::null_mut(),
                };
                // SAFETY: the buffer matches the attribute; SSPI allocates the string.
                let status = unsafe {
                    QueryContextAttributesW(
                        handle,
                        attribute,
                        (&mut names as *mut SecPkgContext_NamesW).cast(),
                    )
                };
                if status != SEC_E_OK {
                    return None;
                }
                // SAFETY: SSPI returned a NUL-terminated string, freed right after copying.
                let s = unsafe { from_wide(names.sUserName) };
                unsafe { FreeContextBuffer(names.sUserName.cast()) };
                s
            }
            SECPKG_ATTR_CLIENT_SPECIFIED_TARGET => {
                let mut target = SecPkgContext_ClientSpecifiedTarget {
                    sTargetName: ptr::null_mut(),
                };
                // SAFETY: as above.
                let status = unsafe {
                    QueryContextAttributesW(
                        handle,
                        attribute,
                        (&mut target as *mut SecPkgContext_ClientSpecifiedTarget).cast(),
                    )
                };
                if status != SEC_E_OK {
                    return None;
                }
                // SAFETY: as above.
                let s = unsafe { from_wide(target.sTargetName) };
                unsafe { FreeContextBuffer(target.sTargetName.cast()) };
                s
            }
            _ => {
                let mut info = SecPkgContext_PackageInfoW {
                    PackageInfo: ptr::null_mut(),
                };
                // SAFETY: as above; the package info is one SSPI allocation.
                let status = unsafe {
                    QueryContextAttributesW(
                        handle,
                        SECPKG_ATTR_PACKAGE_INFO,
                        (&mut info as *mut SecPkgContext_PackageInfoW).cast(),
                    )
                };
                if status != SEC_E_OK || info.PackageInfo.is_null() {
                    return None;
                }
                // SAFETY: PackageInfo points to a SecPkgInfoW whose Name is NUL-terminated.
                let s = unsafe { from_wide((*info.PackageInfo).Name) };
                unsafe { FreeContextBuffer(info.PackageInfo.cast()) };
                s
            }
        }
    }
}

impl SecurityContext for SspiContext {
    fn step(
        &mut self,
        _scheme: Scheme,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        let bindings = match expected.map(|e| e.gss().to_sec_channel_bindings()) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Err(AuthError::LogonDenied(e.to_string())),
            None => None,
        };
        let mut token_copy = token.to_vec();
        let mut bindings_copy = bindings.unwrap_or_default();
        let mut inputs = vec![SecBuffer {
            cbBuffer: token_copy.len() as u32,
            BufferType: SECBUFFER_TOKEN,
            pvBuffer: token_copy.as_mut_ptr().cast(),
        }];
        if !bindings_copy.is_empty() {
            inputs.push(SecBuffer {
                cbBuffer: bindings_copy.len() as u32,
                BufferType: SECBUFFER_CHANNEL_BINDINGS,
                pvBuffer: bindings_copy.as_mut_ptr().cast(),
            });
        }
        let input = SecBufferDesc {
            ulVersion: SECBUFFER_VERSION,
            cBuffers: inputs.len() as u32,
            pBuffers: inputs.as_mut_ptr(),
        };
        let mut result_flags = 0u32;
        let mut outputs = [
            SecBuffer {
                cbBuffer: 0,
                BufferType: SECBUFFER_TOKEN,
                pvBuffer: ptr::null_mut(),
            },
            SecBuffer {
                cbBuffer: 4,
                BufferType: SECBUFFER_CHANNEL_BINDINGS_RESULT,
                pvBuffer: (&mut result_flags as *mut u32).cast(),
            },
        ];
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
        // SAFETY: every buffer above outlives the call; the credential is valid; the context
        // handle is either null (first leg) or the one SSPI gave us.
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
        if self.handle.is_none() && (new_handle.dwLower != 0 || new_handle.dwUpper != 0) {
            self.handle = Some(new_handle);
        }
        // CompleteAuthToken reads the output token, so it runs before the token is copied and
        // freed (freeing first was a use-after-free).
        let completion_status = match (status, &self.handle) {
            (SEC_I_COMPLETE_NEEDED | SEC_I_COMPLETE_AND_CONTINUE, Some(h)) => {
                // SAFETY: `h` is the context AcceptSecurityContext just returned; `output` is the
                // descriptor it filled, whose token buffer is still allocated (freed below).
                Some(unsafe { CompleteAuthToken(h, &output) })
            }
            _ => None,
        };
        let out_token = if outputs[0].pvBuffer.is_null() {
            Vec::new()
        } else {
            // SAFETY: SSPI allocated `cbBuffer` bytes (ASC_REQ_ALLOCATE_MEMORY); copied, then freed.
            let v = unsafe {
                std::slice::from_raw_parts(
                    outputs[0].pvBuffer as *const u8,
                    outputs[0].cbBuffer as usize,
                )
            }
            .to_vec();
            unsafe { FreeContextBuffer(outputs[0].pvBuffer) };
            v
        };
        let reported = crate::observation_from_result_flags(result_flags);
        match status {
            SEC_E_BAD_BINDINGS => {
                return Err(AuthError::BadBindings {
                    mechanism: Mechanism::Other,
                    observation: reported.unwrap_or(BindingObservation::Mismatch),
                });
            }
            SEC_I_CONTINUE_NEEDED => return Ok(Step::Continue(out_token)),
            SEC_I_COMPLETE_NEEDED | SEC_I_COMPLETE_AND_CONTINUE => {
                match completion_status {
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
                    return Ok(Step::Continue(out_token));
                }
            }
            SEC_E_OK => {}
            SEC_E_INVALID_TOKEN => {
                return Err(AuthError::InvalidToken(format!(
                    "SSPI status 0x{:08x}",
                    status as u32
                )));
            }
            other => {
                return Err(AuthError::LogonDenied(format!(
                    "SSPI status 0x{:08x}",
                    other as u32
                )));
            }
        }
        let package = self
            .query_string(SECPKG_ATTR_PACKAGE_INFO)
            .unwrap_or_default();
        let mechanism = match package.as_str() {
            "Kerberos" => Mechanism::Kerberos,
            "NTLM" => Mechanism::Ntlm,
            _ => Mechanism::Other,
        };
        // Only what SSPI verified: under ASC_REQ_PROXY_BINDINGS never a match.
        let channel_binding = self
            .acceptor
            .checks
            .observation(expected.is_some(), reported);
        let name = self.query_string(SECPKG_ATTR_NAMES).unwrap_or_default();
        let identity = match name.split_once('\\') {
            Some((domain, user)) => Identity::ntlm(domain, user),
            None => match name.rsplit_once('@') {
                Some((user, realm)) => Identity::kerberos(user, realm),
                None => Identity::ntlm("", &name),
            },
        };
        let client_spn = ClientServiceName::from_option(
            self.query_string(SECPKG_ATTR_CLIENT_SPECIFIED_TARGET)
                .as_deref(),
        );
        Ok(Step::Complete(Completion {
            identity,
            mechanism,
            channel_binding,
            client_spn,
            supports_extended_protection: true,
            response_token: (!out_token.is_empty()).then_some(out_token),
            user_sid: None,
            groups: Vec::new(),
            group_names: Vec::new(),
        }))
    }
}
