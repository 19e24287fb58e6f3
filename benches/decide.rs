//! The decision function with 1, 100 and 10,000 acceptable service names.
//!
//! Names: `decide/spn_list/<n>`. Goal: 10,000 names within 1.5x of 1 name (the SPN lookup is a
//! hash probe, not a scan). The ratio is printed at the end of the run.
//!
//! Also `decide/audit_single`, `decide/audit_audited`: one decision against audit mode's two (the same facts
//! under `when-supported` and observed `always`, HTTPS, binding absent: a would-be rejection).
//! Reported without a goal: the per-request goal is measured end to end by `benches/load.rs`.

use criterion::{BenchmarkId, Criterion};
use epa::decide::{BindingObservation, ClientServiceName, Mechanism, Profile, Transport};
use epa::{ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, RequestFacts};
use epa::{ServerPolicy, ServiceNameCollection, decide};
use std::hint::black_box;

#[path = "support/ratio.rs"]
mod ratio;

const SIZES: [usize; 3] = [1, 100, 10_000];

fn server(n: usize) -> ServerPolicy {
    let names: Vec<String> = (0..n)
        .map(|i| format!("HTTP/host{i}.corp.example"))
        .collect();
    let policy = ExtendedProtectionPolicy::with_service_names(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
        &names,
    )
    .expect("valid policy");
    ServerPolicy::new(
        policy,
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .expect("valid server policy")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for n in SIZES {
        let s = server(n);
        // Plain HTTP: the SPN check runs; the client names the last name in the list (a scan
        // would pay for the whole list).
        let facts = RequestFacts {
            transport: Transport::Http,
            mechanism: Mechanism::Ntlm,
            server_supports_ep: true,
            channel_binding: BindingObservation::Unbound,
            client_spn: ClientServiceName::Value(format!("http/HOST{}.corp.example", n - 1)),
        };
        assert!(decide(&s, &facts).is_accept());
        group.bench_with_input(BenchmarkId::new("spn_list", n), &(s, facts), |b, (s, f)| {
            b.iter(|| decide(black_box(s), black_box(f)))
        });
    }
    let https = |pe| {
        let p = ExtendedProtectionPolicy::with_service_names(
            pe,
            ProtectionScenario::TransportSelected,
            ["HTTP/www.example.com"],
        )
        .expect("valid policy");
        ServerPolicy::new(p, &ServiceNameCollection::default(), Profile::Documented)
            .expect("valid server policy")
    };
    let (current, target) = (
        https(PolicyEnforcement::WhenSupported),
        https(PolicyEnforcement::Always),
    );
    let facts = RequestFacts {
        transport: Transport::Https,
        mechanism: Mechanism::Ntlm,
        server_supports_ep: true,
        channel_binding: BindingObservation::Absent,
        client_spn: ClientServiceName::Missing,
    };
    let audited = epa::audit::decide_audited(&current, Some(&target), &facts);
    assert!(audited.would_reject().is_some());
    group.bench_function("audit_single", |b| {
        b.iter(|| decide(black_box(&current), black_box(&facts)))
    });
    group.bench_function("audit_audited", |b| {
        b.iter(|| {
            let d = epa::audit::decide_audited(
                black_box(&current),
                Some(black_box(&target)),
                black_box(&facts),
            );
            black_box(d.would_reject().is_some())
        })
    });
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
    for n in [100, 10_000] {
        ratio::report(
            &format!("decide/{n}-vs-1"),
            &format!("decide/spn_list/{n}"),
            "decide/spn_list/1",
            1.5,
        );
    }
    ratio::report(
        "decide/audit",
        "decide/audit_audited",
        "decide/audit_single",
        f64::INFINITY,
    );
}
