//! Library half of the `epa` command: the pieces that parse untrusted input (scenario files, decision logs, IIS
//! and netsh configurations),
//! kept here so that tests and fuzz targets can reach them.

#![forbid(unsafe_code)]

pub mod audit_report;
pub mod iis;
pub mod scenario;
