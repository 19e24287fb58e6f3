//! `epa serve` side by side with Apache httpd 2.4 + mod_auth_gssapi + mod_proxy (issue #13) and
//! nginx (`proxy_pass`, TLS on the client side, no authentication: issue #23's reference for
//! what a proxied keep-alive request costs), in one run: the client and the upstream of
//! `scripts/bench-proxy`, which starts the KDC, the upstream (this binary, `upstream` mode),
//! `epa serve`, Apache and nginx, then runs this binary in `measure` mode. Feature `gssapi` (the client makes its Kerberos tokens with MIT's libgssapi).
//!
//! Sides (`SIDES`): the upstream alone; each server's anonymous route (the limit); Kerberos on
//! every request over keep-alive TLS (a fresh AP-REQ each time); connection-bound Kerberos (one
//! AP-REQ per connection, then plain requests); Kerberos and anonymous on a new TLS connection
//! per request (full handshakes, client-side resumption off). Tokens are made before each run,
//! outside the measured window, one per request: every token is a new authenticator, so the
//! servers' replay caches stay on and never see a replay. All tokens carry the certificate's
//! `tls-server-end-point` binding: epa checks it (`always`), Apache ignores it.
//!
//! Method: a calibration round sizes each side's run (`BENCH_RUN_MS` of work at its measured
//! rate); then `BENCH_ROUNDS` rounds each run every side once, in an order that reverses every
//! round (so a drift of the shared machine's load favours no side). A comparison is the median
//! and spread of its per-round ratios. Per side: req/s, p50/p99 latency, server CPU per request
//! (utime + stime of the server's processes, from `/proc`), client CPU per request.
//! No assertion: this is a measurement. Without `--bench` (`cargo test`) it does nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/proc_cpu.rs"]
mod proc_cpu;

#[path = "support/proxy_client.rs"]
mod proxy_client;
use proxy_client::{Auth, Conn, Outcome, Target, TokenMaker};

#[path = "support/alternate.rs"]
#[allow(dead_code)] // only `Spread` is used here
mod alternate;
use alternate::Spread;

/// Which server a side measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Upstream,
    Epa,
    Apache,
    Nginx,
}

/// One measured configuration.
struct Side {
    name: &'static str,
    server: Server,
    path: &'static str,
    auth: Auth,
    conn: Conn,
}

const fn side(
    name: &'static str,
    server: Server,
    path: &'static str,
    auth: Auth,
    conn: Conn,
) -> Side {
    Side {
        name,
        server,
        path,
        auth,
        conn,
    }
}

/// Every side, in round order (reversed every other round).
const SIDES: &[Side] = &[
    side(
        "upstream/direct",
        Server::Upstream,
        "/anon",
        Auth::None,
        Conn::KeepAlive,
    ),
    side(
        "epa/anon",
        Server::Epa,
        "/anon",
        Auth::None,
        Conn::KeepAlive,
    ),
    side(
        "apache/anon",
        Server::Apache,
        "/anon",
        Auth::None,
        Conn::KeepAlive,
    ),
    side(
        "nginx/anon",
        Server::Nginx,
        "/anon",
        Auth::None,
        Conn::KeepAlive,
    ),
    side(
        "epa/krb",
        Server::Epa,
        "/krb",
        Auth::EveryRequest,
        Conn::KeepAlive,
    ),
    side(
        "apache/krb",
        Server::Apache,
        "/krb",
        Auth::EveryRequest,
        Conn::KeepAlive,
    ),
    side(
        "epa/bound",
        Server::Epa,
        "/bound",
        Auth::FirstRequest,
        Conn::KeepAlive,
    ),
    side(
        "apache/bound",
        Server::Apache,
        "/bound",
        Auth::FirstRequest,
        Conn::KeepAlive,
    ),
    side(
        "epa/krb-new",
        Server::Epa,
        "/krb",
        Auth::EveryRequest,
        Conn::New,
    ),
    side(
        "apache/krb-new",
        Server::Apache,
        "/krb",
        Auth::EveryRequest,
        Conn::New,
    ),
    side("epa/anon-new", Server::Epa, "/anon", Auth::None, Conn::New),
    side(
        "apache/anon-new",
        Server::Apache,
        "/anon",
        Auth::None,
        Conn::New,
    ),
    side(
        "nginx/anon-new",
        Server::Nginx,
        "/anon",
        Auth::None,
        Conn::New,
    ),
];

/// (label, side A, side B, goal on the median of the B/A ratios of req/s and of capacity).
#[rustfmt::skip]
const COMPARISONS: &[(&str, &str, &str, Option<f64>)] = &[
    // Issue #23: a keep-alive request on an authenticated connection costs what an anonymous one does.
    ("epa authenticated keep-alive / epa anonymous keep-alive", "epa/anon", "epa/bound", Some(0.95)),
    ("epa kerberos keep-alive / epa anonymous keep-alive", "epa/anon", "epa/krb", Some(0.90)),
    ("kerberos keep-alive: epa / apache", "apache/krb", "epa/krb", Some(1.5)),
    ("kerberos new connection: epa / apache", "apache/krb-new", "epa/krb-new", Some(1.5)),
    ("connection-bound keep-alive: epa / apache", "apache/bound", "epa/bound", Some(1.5)),
    ("anonymous keep-alive: epa / apache", "apache/anon", "epa/anon", None),
    ("anonymous new connection: epa / apache", "apache/anon-new", "epa/anon-new", None),
    ("apache kerberos keep-alive / apache anonymous keep-alive", "apache/anon", "apache/krb", None),
    // Issue #23: within 1.25x of nginx's CPU per request (capacity ratio >= 1 / 1.25).
    ("anonymous keep-alive: epa / nginx", "nginx/anon", "epa/anon", Some(0.8)),
    ("epa authenticated keep-alive / nginx anonymous keep-alive", "nginx/anon", "epa/bound", Some(0.8)),
    ("anonymous new connection: epa / nginx", "nginx/anon-new", "epa/anon-new", None),
];

/// What one side measured in one round.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu_us: Option<f64>,
    client_cpu_us: Option<f64>,
    errors: u64,
}

/// The servers' addresses and process ids, from the command line.
struct Setup {
    addr: HashMap<&'static str, SocketAddr>,
    pids: HashMap<&'static str, Vec<u32>>,
    binding: Vec<u8>,
    connections: usize,
    rounds: usize,
    run: Duration,
}

fn server_key(s: Server) -> &'static str {
    match s {
        Server::Upstream => "upstream",
        Server::Epa => "epa",
        Server::Apache => "apache",
        Server::Nginx => "nginx",
    }
}

/// `--name value` pairs after the mode.
fn options(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let name = k
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {k}"))?;
        let value = it.next().ok_or(format!("--{name} needs a value"))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn setup(o: &HashMap<String, String>) -> Result<Setup, String> {
    let get = |k: &str| o.get(k).ok_or(format!("missing --{k}"));
    let mut addr = HashMap::new();
    let mut pids = HashMap::new();
    for key in ["upstream", "epa", "apache", "nginx"] {
        let a: SocketAddr = get(key)?.parse().map_err(|e| format!("--{key}: {e}"))?;
        addr.insert(key, a);
        let p = get(&format!("{key}-pid"))?
            .split(',')
            .map(|p| p.parse::<u32>().map_err(|e| format!("--{key}-pid: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        pids.insert(key, p);
    }
    let pem = std::fs::read(get("cert")?).map_err(|e| format!("--cert: {e}"))?;
    let der = epa::cbt::certificates_from_pem(&pem)
        .map_err(|e| format!("--cert: {e}"))?
        .into_iter()
        .next()
        .ok_or("--cert: no certificate")?;
    let binding = epa::tls_server_end_point(&der)
        .map_err(|e| format!("--cert: {e}"))?
        .binding
        .application_data();
    Ok(Setup {
        addr,
        pids,
        binding,
        connections: env_num("BENCH_CONNECTIONS", 16).max(1) as usize,
        rounds: env_num("BENCH_ROUNDS", 7).max(1) as usize,
        run: Duration::from_millis(env_num("BENCH_RUN_MS", 2500).max(100)),
    })
}

/// Runs `side` once: `n` requests, or for `limit`. Returns the sample and the raw outcome.
async fn measure(
    s: &Setup,
    side: &Side,
    tokens: &TokenMaker,
    n: usize,
    limit: Option<Duration>,
    announce: bool,
) -> Result<(Sample, Outcome), String> {
    let needed = match (side.auth, side.conn) {
        (Auth::None, _) => 0,
        (Auth::FirstRequest, _) => s.connections,
        (Auth::EveryRequest, Conn::KeepAlive) => n + s.connections,
        (Auth::EveryRequest, Conn::New) => n,
    };
    let tokens = tokens.make(needed)?;
    let key = server_key(side.server);
    let target = Target {
        addr: s.addr[key],
        tls: side.server != Server::Upstream,
        path: side.path,
    };
    let mut tls = epa::hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS)
        .map_err(|e| e.to_string())?;
    if side.conn == Conn::New {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let pids = &s.pids[key];
    let mut start_cpu = (None, None);
    let mut out = proxy_client::run(
        &target,
        side.auth,
        side.conn,
        s.connections,
        n,
        limit,
        tokens,
        Arc::new(tls),
        || {
            if announce {
                use std::io::Write as _;
                println!("window");
                let _ = std::io::stdout().flush();
            }
            start_cpu = (proc_cpu::tree_cpu_ns(pids), proc_cpu::own_cpu_ns());
        },
    )
    .await;
    let end_cpu = (proc_cpu::tree_cpu_ns(pids), proc_cpu::own_cpu_ns());
    if out.ok == 0 {
        return Err(format!(
            "{}: no request succeeded ({})",
            side.name,
            out.first_error.as_deref().unwrap_or("no error recorded")
        ));
    }
    let per_req = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e3 / out.ok as f64),
        _ => None,
    };
    let sample = Sample {
        rate: out.ok as f64 / out.secs,
        p50_us: proxy_client::quantile_us(&mut out.latencies_us, 0.50).unwrap_or(f64::NAN),
        p99_us: proxy_client::quantile_us(&mut out.latencies_us, 0.99).unwrap_or(f64::NAN),
        server_cpu_us: per_req(start_cpu.0, end_cpu.0),
        client_cpu_us: per_req(start_cpu.1, end_cpu.1),
        errors: out.errors,
    };
    Ok((sample, out))
}

fn spread(v: impl IntoIterator<Item = f64>, precision: usize) -> String {
    Spread::of(v).map_or_else(|| "n/a".into(), |s| s.show_short(precision))
}

/// The calibration round, then `rounds` alternating rounds; prints every side and comparison.
async fn measure_all(s: &Setup, tokens: &TokenMaker) -> Result<(), String> {
    let t = std::time::Instant::now();
    let made = tokens.make(1_000)?.len();
    println!(
        "client: {:.1} µs per token (gss_init_sec_context, made before each run, outside the window)",
        t.elapsed().as_secs_f64() * 1e6 / made as f64
    );
    let calibrate = Duration::from_millis(800);
    let mut sizes = HashMap::new();
    for side in SIDES {
        // Enough tokens for the calibration window at a rate no server here reaches.
        let cap = if side.conn == Conn::New { 1_500 } else { 4_000 };
        let (sample, _) = measure(s, side, tokens, cap, Some(calibrate), false).await?;
        let n = (sample.rate * s.run.as_secs_f64()).max(100.0) as usize;
        println!(
            "calibration {:<16} {:>8.0} req/s -> {n} requests per run",
            side.name, sample.rate
        );
        sizes.insert(side.name, n);
    }
    let mut samples: HashMap<&str, Vec<Sample>> = HashMap::new();
    for round in 0..s.rounds {
        let order: Vec<&Side> = if round % 2 == 0 {
            SIDES.iter().collect()
        } else {
            SIDES.iter().rev().collect()
        };
        for side in order {
            let (sample, out) = measure(s, side, tokens, sizes[side.name], None, false).await?;
            if out.errors > 0 {
                println!(
                    "round {round} {}: {} errors, first: {}",
                    side.name,
                    out.errors,
                    out.first_error.as_deref().unwrap_or("?")
                );
            }
            samples.entry(side.name).or_default().push(sample);
        }
        println!("round {} of {} done", round + 1, s.rounds);
    }
    println!();
    println!(
        "side              req/s median (min–max)     p50 ms        p99 ms        server CPU µs/req   client CPU µs/req  errors"
    );
    for side in SIDES {
        let v = &samples[side.name];
        println!(
            "{:<17} {:<26} {:<13} {:<13} {:<19} {:<18} {}",
            side.name,
            spread(v.iter().map(|x| x.rate), 0),
            Spread::of(v.iter().map(|x| x.p50_us / 1e3))
                .map_or("n/a".into(), |x| format!("{:.2}", x.median)),
            Spread::of(v.iter().map(|x| x.p99_us / 1e3))
                .map_or("n/a".into(), |x| format!("{:.2}", x.median)),
            spread(v.iter().filter_map(|x| x.server_cpu_us), 1),
            spread(v.iter().filter_map(|x| x.client_cpu_us), 1),
            v.iter().map(|x| x.errors).sum::<u64>(),
        );
    }
    println!();
    for (label, a, b, goal) in COMPARISONS {
        let (va, vb) = (&samples[a], &samples[b]);
        let pairs = || va.iter().zip(vb.iter());
        let rate = Spread::of(pairs().map(|(x, y)| y.rate / x.rate));
        // Capacity: requests per CPU-second of the server (1 / server CPU per request), which
        // a shared machine's scheduler moves far less than req/s.
        let capacity =
            Spread::of(pairs().filter_map(|(x, y)| Some(x.server_cpu_us? / y.server_cpu_us?)));
        let verdict = |r: Option<Spread>| match (goal, r) {
            (Some(g), Some(r)) => format!(
                "; goal >= {g}: {}",
                if r.median >= *g { "meets" } else { "MISSES" }
            ),
            _ => String::new(),
        };
        println!(
            "ratio {label} ({b} / {a}): req/s {}{}",
            rate.map_or("n/a".into(), |r| r.show(3)),
            verdict(rate)
        );
        println!(
            "      capacity (1 / server CPU per request) {}{}",
            capacity.map_or("n/a".into(), |r| r.show(3)),
            verdict(capacity)
        );
        println!(
            "      p99 {}; p50 {} (per-round ratios, {} rounds)",
            spread(pairs().map(|(x, y)| y.p99_us / x.p99_us), 3),
            spread(pairs().map(|(x, y)| y.p50_us / x.p50_us), 3),
            va.len()
        );
    }
    // The upstream must not be the bottleneck: its own rate against the fastest proxied side.
    let up = Spread::of(samples["upstream/direct"].iter().map(|x| x.rate));
    let fastest = SIDES
        .iter()
        .filter(|x| x.server != Server::Upstream)
        .filter_map(|x| Spread::of(samples[x.name].iter().map(|y| y.rate)))
        .map(|x| x.median)
        .fold(0.0, f64::max);
    if let Some(up) = up {
        println!(
            "upstream alone: {:.0} req/s (median), {:.1}x the fastest proxied side ({fastest:.0} req/s)",
            up.median,
            up.median / fastest
        );
    }
    Ok(())
}

/// `--only SIDE --secs S`: runs one side for S seconds (for a profiler attached to the server);
/// prints `window` when the measured window starts.
async fn only(s: &Setup, tokens: &TokenMaker, name: &str, secs: f64) -> Result<(), String> {
    let side = SIDES
        .iter()
        .find(|x| x.name == name)
        .ok_or(format!("no side {name}"))?;
    let (cal, _) = measure(
        s,
        side,
        tokens,
        2_000,
        Some(Duration::from_millis(500)),
        false,
    )
    .await?;
    let n = (cal.rate * secs * 1.3) as usize + 100;
    let limit = Some(Duration::from_secs_f64(secs));
    let (sample, out) = measure(s, side, tokens, n, limit, true).await?;
    println!(
        "{name}: {:.0} req/s, server CPU {:.1} µs/req, {} errors",
        sample.rate,
        sample.server_cpu_us.unwrap_or(f64::NAN),
        out.errors
    );
    Ok(())
}

/// The upstream: HTTP/1.1 on 127.0.0.1, answering `upstream <X-Remote-User or ->`.
async fn upstream() -> Result<(), String> {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("port {}", addr.port());
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| {
                let who = req
                    .headers()
                    .get("x-remote-user")
                    .map_or(&b"-"[..], |v| v.as_bytes());
                let mut body = b"upstream ".to_vec();
                body.extend_from_slice(who);
                body.push(b'\n');
                std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(
                    Full::new(bytes::Bytes::from(body)),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(pos) = args.iter().position(|a| a == "--bench") else {
        return; // `cargo test` mode: nothing to measure.
    };
    let rest = &args[pos + 1..];
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = match rest.first().map(String::as_str) {
        Some("upstream") => rt.block_on(upstream()),
        Some("measure") => options(&rest[1..]).and_then(|o| {
            let s = setup(&o)?;
            let tokens = TokenMaker::new(s.binding.clone())?;
            match (o.get("only"), o.get("secs")) {
                (Some(name), Some(secs)) => {
                    let secs = secs.parse::<f64>().map_err(|e| format!("--secs: {e}"))?;
                    rt.block_on(only(&s, &tokens, name, secs))
                }
                _ => rt.block_on(measure_all(&s, &tokens)),
            }
        }),
        _ => {
            println!(
                "run scripts/bench-proxy (it starts the KDC, the upstream, epa, Apache and nginx)"
            );
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("bench-proxy: {e}");
        std::process::exit(1);
    }
}
