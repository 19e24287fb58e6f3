//! Extended Protection for hyper servers.
//!
//! * [`authenticator`]: the trait every backend implements;
//! * [`ntlm`]: the embedded NTLMv2 acceptor (the default backend, no system service).

#![deny(unsafe_code)]

pub mod authenticator;
pub mod ntlm;
