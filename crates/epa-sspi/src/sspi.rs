//! The SSPI FFI. Every `unsafe` block states the invariant it relies on.
#![allow(unsafe_code)]

mod leg;

use crate::context::{Attribute, identity_from_names};
use crate::{BindingChecks, SspiPolicyError};
use epa_core::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Scheme, SecurityContext, Step,
};
use epa_core::decide::{ClientServiceName, Mechanism, ServerPolicy};
use leg::{LegBuffers, Next};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use windows_sys::Win32::Foundation::{SEC_E_INVALID_HANDLE, SEC_E_OK};
use windows_sys::Win32::Security::Authentication::Identity::{
    ASC_REQ_ALLOW_MISSING_BINDINGS, ASC_REQ_CONNECTION, ASC_REQ_PROXY_BINDINGS,
    AcquireCredentialsHandleW, DeleteSecurityContext, FreeContextBuffer, FreeCredentialsHandle,
    QueryContextAttributesW, QuerySecurityPackageInfoW, SECPKG_ATTR_CLIENT_SPECIFIED_TARGET,
    SECPKG_ATTR_NAMES, SECPKG_ATTR_PACKAGE_INFO, SECPKG_CRED_INBOUND,
    SecPkgContext_ClientSpecifiedTarget, SecPkgContext_NamesW, SecPkgContext_PackageInfoW,
    SecPkgInfoW,
};
use windows_sys::Win32::Security::Credentials::SecHandle;

/// Security contexts created and not yet deleted, across every acceptor of the process.
static OPEN_CONTEXTS: AtomicUsize = AtomicUsize::new(0);

/// Credential handles acquired and not yet freed, across every acceptor of the process.
static OPEN_CREDENTIALS: AtomicUsize = AtomicUsize::new(0);

/// How many SSPI credential handles this backend holds (one per [`SspiAcceptor::new`], freed
/// with `FreeCredentialsHandle` when the last clone of that acceptor and of its contexts is
/// dropped). A handle whose release failed stays counted. For tests and diagnostics.
pub fn open_credentials() -> usize {
    OPEN_CREDENTIALS.load(Ordering::SeqCst)
}

/// How many SSPI security contexts this backend holds (created by `AcceptSecurityContext` and
/// not yet deleted with `DeleteSecurityContext`): 0 once every connection is gone. A context
/// whose deletion failed stays counted. For tests and diagnostics.
pub fn open_contexts() -> usize {
    OPEN_CONTEXTS.load(Ordering::SeqCst)
}

/// The SSPI acceptor cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SspiError {
    /// `AcquireCredentialsHandleW` failed with this status.
    #[error("SSPI error 0x{:08x} acquiring the inbound Negotiate credential", *.0 as u32)]
    Acquire(i32),
    /// `QuerySecurityPackageInfoW("Negotiate")` failed with this status (the output buffer is
    /// sized from its `cbMaxToken`).
    #[error("SSPI error 0x{:08x} querying the Negotiate package's maximum token size", *.0 as u32)]
    PackageInfo(i32),
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
        let status = unsafe { FreeCredentialsHandle(&self.0) };
        if status == SEC_E_OK {
            OPEN_CREDENTIALS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The SSPI acceptor: one inbound `Negotiate` credential shared by all connections.
#[derive(Clone)]
pub struct SspiAcceptor {
    credential: Arc<Credential>,
    flags: u32,
    checks: BindingChecks,
    /// The package's `cbMaxToken`: the size of the caller-allocated output token buffer.
    max_token: usize,
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
        // No ASC_REQ_ALLOCATE_MEMORY: the output token goes into a buffer of `cbMaxToken`
        // bytes allocated here (Wine ignores the flag and writes through a null pointer).
        let mut flags = ASC_REQ_CONNECTION;
        if checks.allow_missing {
            flags |= ASC_REQ_ALLOW_MISSING_BINDINGS;
        }
        if checks.proxy {
            flags |= ASC_REQ_PROXY_BINDINGS;
        }
        let package = wide("Negotiate");
        let max_token = max_token(&package)?;
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
        OPEN_CREDENTIALS.fetch_add(1, Ordering::SeqCst);
        Ok(Self {
            credential: Arc::new(Credential(handle)),
            flags,
            checks,
            max_token,
        })
    }
}

/// The package's `cbMaxToken` (`QuerySecurityPackageInfoW`).
fn max_token(package: &[u16]) -> Result<usize, SspiError> {
    let mut info: *mut SecPkgInfoW = ptr::null_mut();
    // SAFETY: `package` is NUL-terminated and outlives the call; SSPI allocates `info`.
    let status = unsafe { QuerySecurityPackageInfoW(package.as_ptr(), &mut info) };
    if status != SEC_E_OK || info.is_null() {
        return Err(SspiError::PackageInfo(status));
    }
    // SAFETY: a successful call points `info` at one SecPkgInfoW, read once and freed once.
    let max = unsafe { (*info).cbMaxToken } as usize;
    // SAFETY: as above; `info` is not used after this.
    unsafe { FreeContextBuffer(info.cast()) };
    Ok(max)
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
            let status = unsafe { DeleteSecurityContext(h) };
            if status == SEC_E_OK {
                OPEN_CONTEXTS.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl SspiContext {
    /// A string attribute of the completed context, or the status that explains why there is
    /// none (`SEC_E_OK` with a null string counts as a failure).
    fn query_string(&self, attribute: Attribute) -> Result<String, u32> {
        let Some(handle) = self.handle.as_ref() else {
            return Err(SEC_E_INVALID_HANDLE as u32);
        };
        let string = |status: i32, p: *const u16| {
            if status != SEC_E_OK {
                return Err(status as u32);
            }
            // SAFETY: SSPI returned a NUL-terminated string (or null) that stays allocated
            // until the caller frees it.
            unsafe { from_wide(p) }.ok_or(SEC_E_OK as u32)
        };
        match attribute {
            Attribute::Names => {
                let mut names = SecPkgContext_NamesW {
                    sUserName: ptr::null_mut(),
                };
                // SAFETY: the buffer matches the attribute; SSPI allocates the string.
                let status = unsafe {
                    QueryContextAttributesW(
                        handle,
                        SECPKG_ATTR_NAMES,
                        (&mut names as *mut SecPkgContext_NamesW).cast(),
                    )
                };
                let s = string(status, names.sUserName);
                free(names.sUserName.cast());
                s
            }
            Attribute::ClientSpecifiedTarget => {
                let mut target = SecPkgContext_ClientSpecifiedTarget {
                    sTargetName: ptr::null_mut(),
                };
                // SAFETY: as above.
                let status = unsafe {
                    QueryContextAttributesW(
                        handle,
                        SECPKG_ATTR_CLIENT_SPECIFIED_TARGET,
                        (&mut target as *mut SecPkgContext_ClientSpecifiedTarget).cast(),
                    )
                };
                let s = string(status, target.sTargetName);
                free(target.sTargetName.cast());
                s
            }
            Attribute::PackageInfo => {
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
                let s = if status != SEC_E_OK || info.PackageInfo.is_null() {
                    Err(status as u32)
                } else {
                    // SAFETY: PackageInfo points to a SecPkgInfoW whose Name is NUL-terminated.
                    string(status, unsafe { (*info.PackageInfo).Name })
                };
                free(info.PackageInfo.cast());
                s
            }
        }
    }
}

/// Frees what SSPI allocated for a query; null is left alone.
fn free(p: *mut core::ffi::c_void) {
    if !p.is_null() {
        // SAFETY: `p` came from a QueryContextAttributesW answer and is freed once, after its
        // last use.
        unsafe { FreeContextBuffer(p) };
    }
}

impl SspiContext {
    /// The completed context as epa reports it: the binding observation, the user, the
    /// package, and the SPN the client named.
    fn completion(&self, leg: LegBuffers) -> Result<Step, AuthError> {
        // Only what the provider says it verified: without a result, `NotChecked`.
        let channel_binding = self.acceptor.checks.observation(
            leg.binding_given(),
            crate::observation_from_result_flags(leg.result_flags),
        );
        // The user first: a context SSPI cannot name is refused, never an empty principal.
        let identity = identity_from_names(self.query_string(Attribute::Names))?;
        // A package SSPI does not name is `Other`, which the decision treats like NTLM (it
        // never skips the SPN check as Kerberos does).
        let mechanism = match self.query_string(Attribute::PackageInfo).as_deref() {
            Ok("Kerberos") => Mechanism::Kerberos,
            Ok("NTLM") => Mechanism::Ntlm,
            _ => Mechanism::Other,
        };
        // As .NET's `GetClientSpecifiedSpn`: a failed query is "the client named none".
        let client_spn = ClientServiceName::from_option(
            self.query_string(Attribute::ClientSpecifiedTarget)
                .ok()
                .as_deref(),
        );
        let out_token = leg.out_token;
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
            session_enctype: None,
        }))
    }
}

impl SecurityContext for SspiContext {
    fn step(
        &mut self,
        token: &[u8],
        expected: Option<&ExpectedBindings>,
    ) -> Result<Step, AuthError> {
        let mut leg = LegBuffers::new(token, expected, self.acceptor.max_token)?;
        let accepted = self.accept(&mut leg)?;
        match leg::next(&accepted, leg.result_flags)? {
            Next::Continue => Ok(Step::Continue(leg.out_token)),
            Next::Complete => self.completion(leg),
        }
    }
}
