//! Sans-I/O core of **epa**, Microsoft-compatible Extended Protection for Authentication.
//!
//! * [`cbt`]: channel bindings — RFC 5929 `tls-server-end-point` from a DER or PEM certificate
//!   (with the hash rule for the cases RFC 5929 leaves undefined, and the typed errors of the
//!   strict DER, PEM and signature-algorithm readers behind it), `tls-unique`, RFC 9266
//!   `tls-exporter`.
//! * [`gss`]: the flattened RFC 2744 `gss_channel_bindings_struct` and its MD5, the value NTLM
//!   (`MsvAvChannelBindings`) and Kerberos (`Bnd`) carry.
//! * [`spn`]: service principal names with .NET's `ServiceNameCollection` rules.
//! * [`prefix`]: default service names derived from listener prefixes, as `HttpListener` does.
//! * [`policy`]: `ExtendedProtectionPolicy` with .NET's validation, and the IIS form.
//! * [`authenticator`]: the trait every authentication backend implements (pure: backends with
//!   I/O live in `epa-hyper` and `epa-sspi`).
//! * [`client_cert`]: client-certificate modes (first handshake only), revocation modes, the
//!   acceptable-CA list size, and the per-route 403.x outcome.
//! * [`allow`]: authorization by user and group (`allow_users`, `allow_groups`).
//! * [`audit`]: audit mode — decide under a target policy as well, enforce the current one.
//! * [`path`]: request paths normalised for route matching (RFC 3986 §6.2.2, IIS casing).
//! * [`spnego`]: a strict DER reader of SPNEGO tokens (RFC 4178), to see the NTLM inside.
//! * [`keytab`]: a strict reader of MIT keytab files, for the keytab lint.
//! * [`sid`]: security identifiers (MS-DTYP §2.4.2), binary and `S-1-…` forms.
//! * [`pac`]: a strict reader of the Kerberos PAC (MS-PAC): the account SID and group SIDs.
//! * [`decide()`]: the one function that turns a policy and what a backend observed into an
//!   accept or a 401, with a reason.
//!
//! This crate does no I/O and has no async code: everything here is a pure function of its input.

#![forbid(unsafe_code)]

pub mod allow;
pub mod ap_req;
pub mod audit;
pub mod authenticator;
pub mod cbt;
pub mod client_cert;
pub mod decide;
mod der;
pub mod enctype;
pub mod gss;
pub mod keytab;
pub mod offer;
pub mod pac;
pub mod path;
mod pem;
pub mod policy;
pub mod prefix;
pub mod sid;
mod signature;
pub mod spn;
pub mod spnego;
pub mod wire;

pub use cbt::{BindingType, ChannelBinding, ServerEndPoint, tls_server_end_point};
pub use decide::{
    BindingObservation, ClientServiceName, Decision, Mechanism, Profile, Reason, RequestFacts,
    ServerPolicy, Transport, decide,
};
pub use gss::{ChannelBindingsHash, GssChannelBindings};
pub use policy::{
    ExtendedProtectionPolicy, IisExtendedProtection, PolicyEnforcement, PolicyError,
    ProtectionScenario, TokenChecking,
};
pub use sid::{Sid, SidError};
pub use spn::{ServiceName, ServiceNameCollection};

/// The readers behind [`cbt`], for the fuzz targets and property tests only: not a stable API.
/// Users call [`cbt`] (and [`client_cert::certificate_subject`]).
#[doc(hidden)]
pub mod internal {
    /// Strict DER reading on the `der` crate.
    pub mod der {
        pub use crate::der::*;
    }
    /// PEM certificate armour.
    pub mod pem {
        pub use crate::pem::*;
    }
    /// The RFC 5929 §4.1 hash choice.
    pub mod signature {
        pub use crate::signature::*;
    }
}
