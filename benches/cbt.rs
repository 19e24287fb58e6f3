//! `tls-server-end-point` against its physical limit: SHA-256 of the same DER bytes.
//!
//! Names: `cbt/tls_server_end_point/<vector id>` and `cbt/raw_sha256/<vector id>`.
//! Goal: CBT time at most 1.10x the raw hash. The ratio is printed at the end of the run.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput};
use sha2::Digest as _;
use std::hint::black_box;

#[path = "support/ratio.rs"]
mod ratio;

const VECTORS: &str = include_str!("../tests/data/channel-binding-vectors.json");
const IDS: [&str; 2] = ["rsa-sha256", "rsa-sha256-ext-20k"];

fn der(id: &str) -> Vec<u8> {
    let all: serde_json::Value = serde_json::from_str(VECTORS).expect("vector file");
    let v = all
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["id"] == id)
        .expect("vector present");
    STANDARD
        .decode(v["der_b64"].as_str().expect("der"))
        .expect("base64")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cbt");
    for id in IDS {
        let der = der(id);
        group.throughput(Throughput::Bytes(der.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("tls_server_end_point", id),
            &der,
            |b, der| b.iter(|| epa::cbt::tls_server_end_point(black_box(der)).expect("valid")),
        );
        group.bench_with_input(BenchmarkId::new("raw_sha256", id), &der, |b, der| {
            b.iter(|| sha2::Sha256::digest(black_box(der)))
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // In `cargo test` mode criterion runs each benchmark once and records nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for id in IDS {
        ratio::report(
            &format!("cbt/{id}"),
            &format!("cbt/tls_server_end_point/{id}"),
            &format!("cbt/raw_sha256/{id}"),
            1.10,
        );
    }
}
