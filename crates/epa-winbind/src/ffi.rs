//! The only `unsafe` of this crate: libwbclient's `wbcCtxAuthenticateUserEx` at
//! `WBC_AUTH_USER_LEVEL_RESPONSE` (a network logon with the client's NTLMv2 response, answered by
//! the domain controller through winbindd), and the contexts it runs on.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::ptr;

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic
)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/wbclient.rs"));
}

/// One winbind connection (`struct wbcContext`): its own socket to winbindd, used by one thread
/// at a time.
pub(crate) struct Context(ptr::NonNull<sys::wbcContext>);

// SAFETY: a wbcContext is a heap object with its own socket and no thread affinity; libwbclient
// only forbids using one context from two threads at once, which `&mut self` on every call
// prevents (a `Context` is owned by one pool slot or one caller at a time).
unsafe impl Send for Context {}

impl Context {
    /// A new context, or `None` when libwbclient cannot allocate one.
    pub(crate) fn new() -> Option<Self> {
        // SAFETY: wbcCtxCreate takes no arguments and returns a new context or NULL.
        let raw = unsafe { sys::wbcCtxCreate() };
        ptr::NonNull::new(raw).map(Self)
    }

    /// Whether winbindd answers on this context.
    pub(crate) fn ping(&mut self) -> bool {
        // SAFETY: self.0 is a live context (created by wbcCtxCreate, freed only in Drop), used
        // by this thread alone (`&mut self`).
        unsafe { sys::wbcCtxPing(self.0.as_ptr()) == sys::_wbcErrType_WBC_ERR_SUCCESS }
    }

    /// Asks the domain controller to verify an NTLMv2 (or any challenge/response) logon.
    pub(crate) fn authenticate_response(
        &mut self,
        request: &Request<'_>,
    ) -> Result<UserInfo, Failure> {
        let cstr = |s: &str, what: &'static str| CString::new(s).map_err(|_| Failure::Nul(what));
        let account = cstr(request.user, "user name")?;
        let domain = cstr(request.domain, "domain name")?;
        let workstation = cstr(request.workstation, "workstation name")?;
        let nt_length = u32::try_from(request.nt_response.len()).map_err(|_| Failure::TooLong)?;
        let lm_length = u32::try_from(request.lm_response.len()).map_err(|_| Failure::TooLong)?;
        // libwbclient takes the response buffers as `uint8_t *` but only reads them; it copies
        // them into its request. Private copies keep the caller's slices immutable regardless.
        let mut nt = request.nt_response.to_vec();
        let mut lm = request.lm_response.to_vec();
        let params = sys::wbcAuthUserParams {
            account_name: account.as_ptr(),
            domain_name: domain.as_ptr(),
            workstation_name: workstation.as_ptr(),
            flags: 0,
            // No MSV1_0_ALLOW_*_TRUST_ACCOUNT: computer and trust accounts cannot log on to a
            // web site through this backend.
            parameter_control: 0,
            level: sys::wbcAuthUserParams_wbcAuthUserLevel_WBC_AUTH_USER_LEVEL_RESPONSE,
            password: sys::wbcAuthUserParams__bindgen_ty_1 {
                response: sys::wbcAuthUserParams__bindgen_ty_1__bindgen_ty_2 {
                    challenge: *request.server_challenge,
                    nt_length,
                    nt_data: if nt.is_empty() {
                        ptr::null_mut()
                    } else {
                        nt.as_mut_ptr()
                    },
                    lm_length,
                    lm_data: if lm.is_empty() {
                        ptr::null_mut()
                    } else {
                        lm.as_mut_ptr()
                    },
                },
            },
        };
        let mut info: *mut sys::wbcAuthUserInfo = ptr::null_mut();
        let mut error: *mut sys::wbcAuthErrorInfo = ptr::null_mut();
        // SAFETY: self.0 is a live context used by this thread alone; `params` and every buffer
        // and string it points to outlive the call; `info` and `error` are valid out-pointers.
        // On return, libwbclient has either set `info` (success) or `error` (WBC_ERR_AUTH_ERROR),
        // each allocated by it and released below with wbcFreeMemory.
        let status = unsafe {
            sys::wbcCtxAuthenticateUserEx(self.0.as_ptr(), &params, &mut info, &mut error)
        };
        let info = Owned(info);
        let error = Owned(error);
        if status == sys::_wbcErrType_WBC_ERR_SUCCESS {
            // SAFETY: on success `info` points to a wbcAuthUserInfo that libwbclient filled and
            // that lives until `info` is dropped at the end of this function.
            return match unsafe { info.0.as_ref() } {
                Some(i) => Ok(UserInfo::copy_from(i)),
                None => Err(Failure::Winbind(sys::_wbcErrType_WBC_ERR_INVALID_RESPONSE)),
            };
        }
        // SAFETY: when set, `error` points to a wbcAuthErrorInfo alive until `error` drops.
        match unsafe { error.0.as_ref() } {
            Some(e) if status == sys::_wbcErrType_WBC_ERR_AUTH_ERROR => Err(Failure::Status {
                nt_status: e.nt_status,
                // SAFETY: nt_string is NULL or a NUL-terminated string owned by `error`.
                nt_string: unsafe { copy_cstr(e.nt_string) },
            }),
            _ => Err(Failure::Winbind(status)),
        }
    }
}

impl Context {
    /// The SID of `domain\\name` (`wbcCtxLookupName`), binary.
    pub(crate) fn lookup_name(&mut self, domain: &str, name: &str) -> Result<Vec<u8>, Failure> {
        let domain = CString::new(domain).map_err(|_| Failure::Nul("domain name"))?;
        let name = CString::new(name).map_err(|_| Failure::Nul("account name"))?;
        // SAFETY: an all-zero wbcDomainSid is a valid value of this plain C struct.
        let mut sid: sys::wbcDomainSid = unsafe { std::mem::zeroed() };
        let mut kind: sys::wbcSidType = 0;
        // SAFETY: live context used by this thread alone; the strings outlive the call; `sid`
        // and `kind` are valid out-parameters the library fills (nothing to free).
        let status = unsafe {
            sys::wbcCtxLookupName(
                self.0.as_ptr(),
                domain.as_ptr(),
                name.as_ptr(),
                &mut sid,
                &mut kind,
            )
        };
        if status != sys::_wbcErrType_WBC_ERR_SUCCESS {
            return Err(Failure::Winbind(status));
        }
        Ok(binary_sid(&sid))
    }

    /// Every group SID of the user `sid` (`wbcCtxLookupUserSids`, nested membership expanded,
    /// local aliases included), binary.
    pub(crate) fn user_groups(&mut self, sid: &[u8]) -> Result<Vec<Vec<u8>>, Failure> {
        let sid = domain_sid(sid).ok_or(Failure::Winbind(sys::_wbcErrType_WBC_ERR_INVALID_SID))?;
        let mut count: u32 = 0;
        let mut sids: *mut sys::wbcDomainSid = ptr::null_mut();
        // SAFETY: live context used by this thread alone; `sid` outlives the call; `count` and
        // `sids` are valid out-parameters; on success `sids` is an array of `count` SIDs that
        // libwbclient allocated and `Owned` releases.
        let status = unsafe {
            sys::wbcCtxLookupUserSids(self.0.as_ptr(), &sid, false, &mut count, &mut sids)
        };
        let owned = Owned(sids);
        if status != sys::_wbcErrType_WBC_ERR_SUCCESS {
            return Err(Failure::Winbind(status));
        }
        if owned.0.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: per the call above, `count` initialised SIDs live until `owned` drops.
        let raw = unsafe { std::slice::from_raw_parts(owned.0, count as usize) };
        Ok(raw.iter().map(binary_sid).collect())
    }
}

/// A domain's NetBIOS and DNS names, as winbind reports them.
pub(crate) type DomainNames = (Option<String>, Option<String>);

impl Context {
    /// The domains winbind knows (`wbcCtxListTrusts`: its own, BUILTIN, and every trusted
    /// domain), as (NetBIOS name, DNS name).
    pub(crate) fn list_trusts(&mut self) -> Result<Vec<DomainNames>, Failure> {
        let mut domains: *mut sys::wbcDomainInfo = ptr::null_mut();
        let mut count: usize = 0;
        // SAFETY: live context used by this thread alone; `domains` and `count` are valid
        // out-parameters; on success `domains` is an array of `count` entries libwbclient
        // allocated (with their strings) and `Owned` releases.
        let status = unsafe { sys::wbcCtxListTrusts(self.0.as_ptr(), &mut domains, &mut count) };
        let owned = Owned(domains);
        if status != sys::_wbcErrType_WBC_ERR_SUCCESS {
            return Err(Failure::Winbind(status));
        }
        if owned.0.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: per the call above, `count` initialised entries live until `owned` drops.
        let raw = unsafe { std::slice::from_raw_parts(owned.0, count) };
        Ok(raw
            .iter()
            // SAFETY: each name is NULL or a NUL-terminated string owned by the array.
            .map(|d| unsafe { (copy_cstr(d.short_name), copy_cstr(d.dns_name)) })
            .collect())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: self.0 came from wbcCtxCreate and is freed exactly once, here.
        unsafe { sys::wbcCtxFree(self.0.as_ptr()) }
    }
}

/// A libwbclient allocation, released with `wbcFreeMemory` (which takes NULL).
struct Owned<T>(*mut T);

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer is NULL or was allocated by libwbclient for the caller, and is
        // freed exactly once, here (wbcFreeMemory also frees what it owns: strings, SID array).
        unsafe { sys::wbcFreeMemory(self.0.cast()) }
    }
}

/// Copies a C string the library owns; `None` for NULL. Invalid UTF-8 is replaced, never trusted
/// as a name (names are compared by the caller after this).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string alive for the call.
unsafe fn copy_cstr(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// What to verify.
pub(crate) struct Request<'a> {
    pub(crate) domain: &'a str,
    pub(crate) user: &'a str,
    pub(crate) workstation: &'a str,
    pub(crate) server_challenge: &'a [u8; 8],
    pub(crate) nt_response: &'a [u8],
    pub(crate) lm_response: &'a [u8],
}

/// What libwbclient returned for a verified logon, copied out of its memory.
pub(crate) struct UserInfo {
    pub(crate) account_name: Option<String>,
    pub(crate) domain_name: Option<String>,
    pub(crate) acct_flags: u32,
    pub(crate) user_session_key: zeroize::Zeroizing<[u8; 16]>,
    /// Binary SIDs (MS-DTYP §2.4.2.2): the account, the primary group, then the other groups.
    pub(crate) sids: Vec<Vec<u8>>,
}

impl UserInfo {
    fn copy_from(i: &sys::wbcAuthUserInfo) -> Self {
        let sids = if i.sids.is_null() {
            Vec::new()
        } else {
            // SAFETY: libwbclient sets `sids` to an array of `num_sids` elements owned by the
            // same allocation as `i`, alive while `i` is.
            let raw = unsafe { std::slice::from_raw_parts(i.sids, i.num_sids as usize) };
            raw.iter().map(|s| binary_sid(&s.sid)).collect()
        };
        Self {
            // SAFETY: NULL or NUL-terminated strings owned by `i`'s allocation.
            account_name: unsafe { copy_cstr(i.account_name) },
            // SAFETY: as above.
            domain_name: unsafe { copy_cstr(i.domain_name) },
            acct_flags: i.acct_flags,
            user_session_key: zeroize::Zeroizing::new(i.user_session_key),
            sids,
        }
    }
}

/// The binary form of a `wbcDomainSid` (revision, count, authority, sub-authorities LE), with
/// the count clamped to the array it lives in (the parser of the result checks it again).
fn binary_sid(s: &sys::wbcDomainSid) -> Vec<u8> {
    let n = usize::from(s.num_auths).min(s.sub_auths.len());
    let mut out = Vec::with_capacity(8 + 4 * n);
    out.push(s.sid_rev_num);
    out.push(s.num_auths);
    out.extend_from_slice(&s.id_auth);
    for a in &s.sub_auths[..n] {
        out.extend_from_slice(&a.to_le_bytes());
    }
    out
}

/// A binary SID (as [`binary_sid`] writes it) as a `wbcDomainSid`; `None` when it does not fit.
fn domain_sid(b: &[u8]) -> Option<sys::wbcDomainSid> {
    let (&rev, rest) = b.split_first()?;
    let (&n, rest) = rest.split_first()?;
    let auth: [u8; 6] = rest.get(..6)?.try_into().ok()?;
    let subs = rest.get(6..)?;
    if subs.len() != 4 * usize::from(n) || usize::from(n) > 15 {
        return None;
    }
    let mut sub_auths = [0u32; 15];
    for (slot, chunk) in sub_auths.iter_mut().zip(subs.chunks_exact(4)) {
        *slot = u32::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(sys::wbcDomainSid {
        sid_rev_num: rev,
        num_auths: n,
        id_auth: auth,
        sub_auths,
    })
}

/// Why libwbclient did not verify a logon.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The domain controller answered with this NTSTATUS.
    Status {
        nt_status: u32,
        nt_string: Option<String>,
    },
    /// libwbclient's own error (`wbcErr`), e.g. winbindd not reachable.
    Winbind(u32),
    /// A name with a NUL byte cannot be passed to the C API.
    Nul(&'static str),
    /// A response longer than the API's 32-bit length.
    TooLong,
}

/// `wbcErr` values the caller distinguishes.
pub(crate) mod wbc_err {
    use super::sys;
    pub(crate) const WINBIND_NOT_AVAILABLE: u32 = sys::_wbcErrType_WBC_ERR_WINBIND_NOT_AVAILABLE;
    pub(crate) const DOMAIN_NOT_FOUND: u32 = sys::_wbcErrType_WBC_ERR_DOMAIN_NOT_FOUND;
    pub(crate) const NO_MEMORY: u32 = sys::_wbcErrType_WBC_ERR_NO_MEMORY;
    pub(crate) const UNKNOWN_USER: u32 = sys::_wbcErrType_WBC_ERR_UNKNOWN_USER;
    pub(crate) const INVALID_RESPONSE: u32 = sys::_wbcErrType_WBC_ERR_INVALID_RESPONSE;
}

/// `acct_flags` bits the caller checks.
pub(crate) const ACB_DISABLED: u32 = sys::WBC_ACB_DISABLED;
/// Account auto-locked.
pub(crate) const ACB_AUTOLOCK: u32 = sys::WBC_ACB_AUTOLOCK;
