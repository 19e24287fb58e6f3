//! The only `unsafe` of this crate: MIT GSSAPI's acceptor calls through `libgssapi-sys`
//! (issue #13). Owning them, rather than going through `libgssapi`'s `ServerCtx`, lets the
//! backend take the source name, mechanism and flags from `gss_accept_sec_context`'s own outputs
//! (no `gss_inquire_context` for them), ask for the target name alone when it is wanted, and
//! read the source name's attributes (the Kerberos PAC). Each MIT name conversion, display,
//! release and attribute read builds a krb5 context (`krb5_init_context`); those are what this
//! module saves.
//!
//! Ownership: [`Credential`], [`Context`] and [`Name`] each hold one handle and release it once,
//! in `Drop`; every buffer MIT returns is copied and released inside the call that got it.
#![allow(unsafe_code)]

use epa_core::decide::Mechanism;
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi_sys as sys;
use std::ffi::{c_int, c_void};
use std::ptr;

/// `GSS_ERROR(x)` (RFC 2744 §3.9.1): a calling or routine error is set.
fn is_error(major: u32) -> bool {
    major & 0xffff_0000 != 0
}

fn error(major: u32, minor: u32) -> GssError {
    GssError {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
}

/// `GSS_S_UNAVAILABLE` in the routine-error field.
const UNAVAILABLE: u32 = sys::_GSS_S_UNAVAILABLE;

/// The Kerberos V5 mechanism, 1.2.840.113554.1.2.2 (RFC 1964).
const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// Microsoft's misencoded Kerberos OID, 1.2.840.48018.1.2.2, which MIT also accepts (Windows
/// clients offer it first in SPNEGO).
const KRB5_MS_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// An empty buffer for MIT to fill.
fn empty_buffer() -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: 0,
        value: ptr::null_mut(),
    }
}

/// A buffer MIT allocated: copied out (at most `max` bytes, else `None`) and released.
fn take_buffer(buffer: &mut sys::gss_buffer_desc, max: usize) -> Option<Vec<u8>> {
    let copy = if buffer.value.is_null() || buffer.length == 0 {
        Some(Vec::new())
    } else if buffer.length > max {
        None
    } else {
        // SAFETY: MIT returned `length` readable bytes at `value` (an output buffer of a call
        // that succeeded); they stay valid until gss_release_buffer below.
        Some(
            unsafe { std::slice::from_raw_parts(buffer.value.cast::<u8>(), buffer.length) }
                .to_vec(),
        )
    };
    if !buffer.value.is_null() {
        let mut minor = 0;
        // SAFETY: the buffer was allocated by MIT for this output and is released once; MIT
        // resets it to empty.
        unsafe { sys::gss_release_buffer(&mut minor, buffer) };
    }
    copy
}

/// The largest output token copied from MIT (an AP-REP or NTLM CHALLENGE is far smaller).
const MAX_TOKEN: usize = 64 * 1024;
/// The largest display name copied.
const MAX_NAME: usize = 4 * 1024;

/// Which mechanism a MIT OID names.
fn mechanism_of(oid: sys::gss_OID) -> Mechanism {
    if oid.is_null() {
        return Mechanism::Other;
    }
    // SAFETY: a non-null gss_OID from MIT points to a static (or context-owned, live for this
    // call) gss_OID_desc whose `elements` holds `length` bytes.
    let bytes = unsafe {
        let desc = &*oid;
        if desc.elements.is_null() {
            return Mechanism::Other;
        }
        std::slice::from_raw_parts(desc.elements.cast::<u8>(), desc.length as usize)
    };
    if bytes == KRB5_OID || bytes == KRB5_MS_OID {
        Mechanism::Kerberos
    } else if bytes == epa_core::spnego::NTLM_OID {
        Mechanism::Ntlm
    } else {
        Mechanism::Other
    }
}

/// An acceptor credential (`gss_cred_id_t`), released on drop.
pub(super) struct Credential(sys::gss_cred_id_t);

// SAFETY: a MIT credential is a heap object without thread affinity; MIT locks it internally
// (krb5 credentials have their own mutex), and accepting with one credential from several
// threads at once is how MIT acceptors are used (libgssapi's `Cred` is `Send + Sync` too).
unsafe impl Send for Credential {}
// SAFETY: see `Send`: shared use is only as `gss_accept_sec_context`'s input credential.
unsafe impl Sync for Credential {}

impl Credential {
    /// MIT's default acceptor credential (the keytab, and gss-ntlmssp's user file).
    pub(super) fn acquire() -> Result<Self, GssError> {
        let mut minor = 0;
        let mut cred: sys::gss_cred_id_t = ptr::null_mut();
        // SAFETY: every input is a constant or null ("default"); `cred` receives a new
        // credential owned by the returned value; the optional outputs are null.
        let major = unsafe {
            sys::gss_acquire_cred(
                &mut minor,
                ptr::null_mut(),
                sys::_GSS_C_INDEFINITE,
                ptr::null_mut(),
                sys::GSS_C_ACCEPT as sys::gss_cred_usage_t,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if is_error(major) || cred.is_null() {
            return Err(error(major, minor));
        }
        Ok(Self(cred))
    }

    /// [`Credential::acquire`], with SPNEGO told to negotiate Kerberos only
    /// (`gss_set_neg_mechs`, MIT ≥ 1.8): from a client's list that has Kerberos anywhere, the
    /// acceptor chooses Kerberos (RFC 4178 §3.2), and a list without it fails the exchange.
    pub(super) fn acquire_kerberos_only() -> Result<Self, GssError> {
        let cred = Self::acquire()?;
        let mut oid = sys::gss_OID_desc {
            length: KRB5_OID.len() as u32,
            elements: KRB5_OID.as_ptr().cast_mut().cast(),
        };
        let mut set = sys::gss_OID_set_desc {
            count: 1,
            elements: &mut oid,
        };
        let mut minor = 0;
        // SAFETY: `cred.0` is a live credential owned by `cred`; `set` and the OID it points to
        // live on this stack frame for the whole call, and MIT copies the set (it never keeps
        // or writes through the pointers: `gss_set_neg_mechs` duplicates the OID set).
        let major = unsafe { sys::gss_set_neg_mechs(&mut minor, cred.0, &mut set) };
        if is_error(major) {
            return Err(error(major, minor));
        }
        Ok(cred)
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the handle came from gss_acquire_cred and is released only here.
        unsafe { sys::gss_release_cred(&mut minor, &mut self.0) };
    }
}

/// A name MIT returned (`gss_name_t`), released on drop.
pub(super) struct Name(sys::gss_name_t);

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the handle is non-null (checked when wrapped), owned by this value alone and
        // released only here.
        unsafe { sys::gss_release_name(&mut minor, &mut self.0) };
    }
}

/// One value of a name attribute.
pub(super) struct Attribute {
    /// MIT verified it (for the PAC: the server checksum matched the service key).
    pub(super) authenticated: bool,
    /// The value's bytes.
    pub(super) value: Vec<u8>,
}

impl Name {
    fn wrap(raw: sys::gss_name_t) -> Option<Self> {
        (!raw.is_null()).then_some(Self(raw))
    }

    /// The name as the mechanism displays it (`gss_display_name`), as UTF-8.
    pub(super) fn display(&self) -> Result<String, NameError> {
        let mut minor = 0;
        let mut out = empty_buffer();
        // SAFETY: self.0 is a live name; `out` receives a buffer MIT allocates, released by
        // take_buffer; the name type output is not asked for.
        let major = unsafe { sys::gss_display_name(&mut minor, self.0, &mut out, ptr::null_mut()) };
        if is_error(major) {
            take_buffer(&mut out, 0);
            return Err(NameError::Gss(error(major, minor)));
        }
        let bytes = take_buffer(&mut out, MAX_NAME).ok_or(NameError::TooLong)?;
        String::from_utf8(bytes).map_err(|_| NameError::NotUtf8)
    }

    /// The first value of the name attribute `attr` (RFC 6680 `gss_get_name_attribute`), at most
    /// `max` bytes; `Ok(None)` when the name has no such attribute (or MIT hides it, as it
    /// hides a PAC whose checksum did not verify).
    pub(super) fn attribute(&self, attr: &str, max: usize) -> Result<Option<Attribute>, NameError> {
        let mut minor = 0;
        let mut attr_buf = sys::gss_buffer_desc {
            length: attr.len(),
            value: attr.as_ptr().cast_mut().cast::<c_void>(),
        };
        let (mut authenticated, mut complete, mut more): (c_int, c_int, c_int) = (0, 0, -1);
        let mut value = empty_buffer();
        // SAFETY: self.0 is a live name; `attr_buf` points at `attr`'s bytes, which MIT only
        // reads during the call; `value` receives a buffer released by take_buffer; the display
        // value is not asked for (null); `more` = -1 asks for the first value.
        let major = unsafe {
            sys::gss_get_name_attribute(
                &mut minor,
                self.0,
                &mut attr_buf,
                &mut authenticated,
                &mut complete,
                &mut value,
                ptr::null_mut(),
                &mut more,
            )
        };
        if is_error(major) {
            take_buffer(&mut value, 0);
            return if major & 0x00ff_0000 == UNAVAILABLE {
                Ok(None)
            } else {
                Err(NameError::Gss(error(major, minor)))
            };
        }
        let value = take_buffer(&mut value, max).ok_or(NameError::TooLong)?;
        Ok(Some(Attribute {
            authenticated: authenticated != 0,
            value,
        }))
    }
}

/// Why a name could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum NameError {
    /// MIT refused.
    #[error("{0}")]
    Gss(GssError),
    /// Longer than this backend reads.
    #[error("longer than this backend reads")]
    TooLong,
    /// A display name that is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
}

/// What one `gss_accept_sec_context` call gave back.
pub(super) enum Accepted {
    /// Another leg is needed: send this token.
    Continue(Vec<u8>),
    /// The context is established.
    Complete {
        /// A last token for the client (the AP-REP of mutual authentication), if any.
        token: Option<Vec<u8>>,
        /// The initiator's name.
        source: Name,
        /// The mechanism that was used (SPNEGO reports the negotiated one).
        mechanism: Mechanism,
        /// The context flags (`GSS_C_CHANNEL_BOUND_FLAG` among them).
        flags: u32,
    },
}

/// One acceptor security context (`gss_ctx_id_t`), deleted on drop. Not `Sync`: MIT forbids
/// concurrent calls on one context.
pub(super) struct Context {
    handle: sys::gss_ctx_id_t,
}

// SAFETY: a context has no thread affinity; it is used by one thread at a time (`&mut self` for
// accept, and the value is not `Sync`), which is all MIT asks (RFC 2744 §5.1).
unsafe impl Send for Context {}

impl Context {
    /// No context yet: the first accept creates it.
    pub(super) fn new() -> Self {
        Self {
            handle: ptr::null_mut(),
        }
    }

    /// One leg: `token` from the client, `application_data` the expected channel binding (a
    /// `gss_channel_bindings_struct` with no addresses, as Windows and gss-ntlmssp use it).
    pub(super) fn accept(
        &mut self,
        cred: Option<&Credential>,
        token: &[u8],
        application_data: Option<&[u8]>,
    ) -> Result<Accepted, GssError> {
        let mut minor = 0;
        let mut input = sys::gss_buffer_desc {
            length: token.len(),
            value: token.as_ptr().cast_mut().cast::<c_void>(),
        };
        let mut bindings = sys::gss_channel_bindings_struct {
            initiator_addrtype: 0,
            initiator_address: empty_buffer(),
            acceptor_addrtype: 0,
            acceptor_address: empty_buffer(),
            application_data: empty_buffer(),
        };
        let bindings_ptr = match application_data {
            Some(data) => {
                bindings.application_data = sys::gss_buffer_desc {
                    length: data.len(),
                    value: data.as_ptr().cast_mut().cast::<c_void>(),
                };
                &mut bindings as sys::gss_channel_bindings_t
            }
            None => ptr::null_mut(),
        };
        let mut source: sys::gss_name_t = ptr::null_mut();
        let mut mech: sys::gss_OID = ptr::null_mut();
        let mut output = empty_buffer();
        let mut flags: u32 = 0;
        // SAFETY: `self.handle` is null (MIT creates the context) or a context from an earlier
        // call on this value; `cred` is live for the call (borrowed); `input`, `bindings` and
        // the binding data point at borrowed bytes MIT only reads during the call; the outputs
        // are owned here: `source` is wrapped in a Name (released once), `output` is copied and
        // released by take_buffer, `mech` points at MIT's static OID; no delegated credential
        // and no lifetime are asked for.
        let major = unsafe {
            sys::gss_accept_sec_context(
                &mut minor,
                &mut self.handle,
                cred.map_or(ptr::null_mut(), |c| c.0),
                &mut input,
                bindings_ptr,
                &mut source,
                &mut mech,
                &mut output,
                &mut flags,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        // Own the name before anything can return: released exactly once, whatever happens.
        let source = Name::wrap(source);
        let output = take_buffer(&mut output, MAX_TOKEN);
        if is_error(major) {
            return Err(error(major, minor));
        }
        let output = output.ok_or_else(|| error(sys::_GSS_S_FAILURE, 0))?;
        if major & sys::_GSS_S_CONTINUE_NEEDED != 0 {
            return Ok(Accepted::Continue(output));
        }
        let source = source.ok_or_else(|| error(sys::_GSS_S_BAD_NAME, 0))?;
        Ok(Accepted::Complete {
            token: (!output.is_empty()).then_some(output),
            source,
            mechanism: mechanism_of(mech),
            flags,
        })
    }

    /// The acceptor's name as the client's ticket named it (`gss_inquire_context` asking for
    /// nothing else). Only for Kerberos: gss-ntlmssp 1.2.0 crashes (strdup(NULL)) when an
    /// acceptor context is asked for its target name.
    pub(super) fn target_name(&self) -> Result<Name, GssError> {
        let mut minor = 0;
        let mut target: sys::gss_name_t = ptr::null_mut();
        // SAFETY: `self.handle` is an established context (called after Complete); only the
        // target name is asked for, owned by the returned Name.
        let major = unsafe {
            sys::gss_inquire_context(
                &mut minor,
                self.handle,
                ptr::null_mut(),
                &mut target,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let target = Name::wrap(target);
        if is_error(major) {
            return Err(error(major, minor));
        }
        target.ok_or_else(|| error(sys::_GSS_S_BAD_NAME, 0))
    }

    /// The mechanism of a context that failed on a later leg (MIT keeps the context then; a
    /// failed first leg leaves none): `Other` when there is no context or MIT cannot tell.
    pub(super) fn mechanism(&self) -> Mechanism {
        if self.handle.is_null() {
            return Mechanism::Other;
        }
        let mut minor = 0;
        let mut mech: sys::gss_OID = ptr::null_mut();
        // SAFETY: `self.handle` is a context MIT kept; only the mechanism (a static OID) is
        // asked for, no names.
        let major = unsafe {
            sys::gss_inquire_context(
                &mut minor,
                self.handle,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut mech,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if is_error(major) {
            return Mechanism::Other;
        }
        mechanism_of(mech)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.handle.is_null() {
            return;
        }
        let mut minor = 0;
        // SAFETY: the handle came from gss_accept_sec_context on this value and is deleted
        // only here; no output token is asked for.
        unsafe { sys::gss_delete_sec_context(&mut minor, &mut self.handle, ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_by_oid() {
        let mut krb5 = KRB5_OID.to_vec();
        let mut desc = sys::gss_OID_desc {
            length: 9,
            elements: krb5.as_mut_ptr().cast(),
        };
        assert_eq!(mechanism_of(&mut desc), Mechanism::Kerberos);
        let mut ms = KRB5_MS_OID.to_vec();
        desc.elements = ms.as_mut_ptr().cast();
        assert_eq!(mechanism_of(&mut desc), Mechanism::Kerberos);
        let mut ntlm = epa_core::spnego::NTLM_OID.to_vec();
        desc.length = ntlm.len() as u32;
        desc.elements = ntlm.as_mut_ptr().cast();
        assert_eq!(mechanism_of(&mut desc), Mechanism::Ntlm);
        desc.length = 3;
        assert_eq!(mechanism_of(&mut desc), Mechanism::Other);
        assert_eq!(mechanism_of(ptr::null_mut()), Mechanism::Other);
    }

    #[test]
    fn a_context_never_started_is_dropped_without_a_call() {
        let ctx = Context::new();
        assert_eq!(ctx.mechanism(), Mechanism::Other);
        drop(ctx);
    }

    #[test]
    fn a_token_that_is_no_gss_token_is_an_error_and_leaves_no_context() {
        let mut ctx = Context::new();
        assert!(ctx.accept(None, b"not a token", None).is_err());
        assert!(ctx.handle.is_null());
    }
}
