//! The client side of the proxy benchmark: Kerberos tokens made ahead of a run, keep-alive and
//! new-connection load over TLS (or plain HTTP for the upstream alone), per-request latency.
//! (`#[path]`-included by `benches/proxy.rs`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::gssapi::libgssapi::context::{ClientCtx, CtxFlags};
use epa::hyper::gssapi::libgssapi::credential::{Cred, CredUsage};
use epa::hyper::gssapi::libgssapi::name::Name;
use epa::hyper::gssapi::libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which requests carry a Kerberos token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// None: an anonymous route (the limit).
    None,
    /// A fresh AP-REQ on every request.
    EveryRequest,
    /// A fresh AP-REQ on a connection's first request only (connection-bound authentication).
    FirstRequest,
}

/// How requests use connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// `connections` keep-alive connections, opened (and warmed by one request) before the clock.
    KeepAlive,
    /// A new TLS connection (full handshake, no resumption) for every request.
    New,
}

/// Where a side sends its requests.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// TLS (with SNI `localhost`) or plain HTTP.
    pub tls: bool,
    /// The request path.
    pub path: &'static str,
}

/// Makes SPNEGO/Kerberos initiator tokens for `HTTP@localhost` from the ticket cache
/// (`KRB5CCNAME`), each carrying the server certificate's `tls-server-end-point` binding.
pub struct TokenMaker {
    cred: Cred,
    binding: Vec<u8>,
}

impl TokenMaker {
    /// The initiator credential is acquired once (the service ticket is then in the cache).
    pub fn new(binding: Vec<u8>) -> Result<Self, String> {
        let cred = Cred::acquire(None, None, CredUsage::Initiate, None)
            .map_err(|e| format!("no initiator credential (KRB5CCNAME?): {e}"))?;
        Ok(Self { cred, binding })
    }

    /// `n` `Authorization` values, each a fresh AP-REQ (its own authenticator, so a server's
    /// replay cache accepts each once), mutual authentication requested as browsers do.
    pub fn make(&self, n: usize) -> Result<Vec<String>, String> {
        (0..n)
            .map(|_| {
                let target = Name::new(b"HTTP@localhost", Some(GSS_NT_HOSTBASED_SERVICE))
                    .map_err(|e| format!("name: {e}"))?;
                let mut ctx = ClientCtx::new(
                    Some(self.cred.clone()),
                    target,
                    CtxFlags::GSS_C_MUTUAL_FLAG,
                    Some(GSS_MECH_SPNEGO),
                );
                let token = ctx
                    .step(None, Some(&self.binding))
                    .map_err(|e| format!("gss_init_sec_context: {e}"))?
                    .ok_or("gss_init_sec_context made no token")?;
                Ok(format!("Negotiate {}", STANDARD.encode(&*token)))
            })
            .collect()
    }
}

/// What one run measured, from the client.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Requests answered 200 with an identity (or anonymously on an anonymous side).
    pub ok: u64,
    /// Requests that failed: connection errors, other statuses, or no identity forwarded.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Wall time of the window, in seconds.
    pub secs: f64,
    /// Latency of each successful request, in microseconds.
    pub latencies_us: Vec<u32>,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<bytes::Bytes>>;

/// One connection to `t`, with an HTTP/1.1 client on it.
async fn connect(t: &Target, tls: &Arc<rustls::ClientConfig>) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if t.tls {
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("http1: {e}"))?;
        tokio::spawn(conn);
        Ok(sender)
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("http1: {e}"))?;
        tokio::spawn(conn);
        Ok(sender)
    }
}

/// One GET; Ok only for a 200 whose body shows the upstream answered (and, when `identified`,
/// received an identity header).
async fn request(
    sender: &mut Sender,
    t: &Target,
    auth: Option<&str>,
    identified: bool,
) -> Result<(), String> {
    let mut req = http::Request::get(t.path).header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| format!("ready: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if status != 200 {
        return Err(format!("status {status}"));
    }
    if !body.starts_with(b"upstream ") {
        return Err(format!("body not from the upstream: {body:?}"));
    }
    if identified && body.starts_with(b"upstream -") {
        return Err("no identity header reached the upstream".into());
    }
    Ok(())
}

/// Shared by a run's tasks: the next request's index, when to stop, the tokens.
struct Work {
    next: AtomicUsize,
    n: usize,
    deadline: Option<Instant>,
    tokens: Vec<String>,
}

impl Work {
    /// The next request's index, or `None` when the run is over.
    fn take(&self) -> Option<usize> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n).then_some(i)
    }
}

/// One task's results.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

impl Tally {
    fn record(&mut self, started: Instant, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                let us = started.elapsed().as_micros();
                self.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// One run: at most `n` requests (tokens `[c, c + n)` for the measured requests; `[0, c)` warm
/// the keep-alive connections), stopping early at `limit` when given. `before` is called when
/// the window starts (after set-up), `after` when it ends.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    t: &Target,
    auth: Auth,
    conn: Conn,
    connections: usize,
    n: usize,
    limit: Option<Duration>,
    tokens: Vec<String>,
    tls: Arc<rustls::ClientConfig>,
    mut before: impl FnMut(),
) -> Outcome {
    let mut out = Outcome::default();
    let mut senders = Vec::new();
    if conn == Conn::KeepAlive {
        for i in 0..connections {
            let token = (auth != Auth::None).then(|| tokens.get(i).map(String::as_str));
            let token = match token {
                Some(None) => {
                    out.first_error = Some("too few tokens".into());
                    return out;
                }
                Some(Some(t)) => Some(t),
                None => None,
            };
            let warmed = async {
                let mut s = connect(t, &tls).await?;
                request(&mut s, t, token, token.is_some()).await?;
                Ok::<_, String>(s)
            };
            match warmed.await {
                Ok(s) => senders.push(s),
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert(format!("warm-up: {e}"));
                }
            }
        }
        if senders.is_empty() {
            return out;
        }
    }
    let offset = if conn == Conn::KeepAlive {
        connections
    } else {
        0
    };
    let work = Arc::new(Work {
        next: AtomicUsize::new(0),
        n,
        deadline: limit.map(|l| Instant::now() + l),
        tokens,
    });
    before();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for slot in 0..connections {
        let (work, t, tls) = (work.clone(), t.clone(), tls.clone());
        let mut sender = senders.pop();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while let Some(i) = work.take() {
                // Connection-bound sides sent their one token in the warm-up.
                let token = match auth {
                    Auth::EveryRequest => work.tokens.get(offset + i).map(String::as_str),
                    Auth::None | Auth::FirstRequest => None,
                };
                if auth == Auth::EveryRequest && token.is_none() {
                    break; // out of tokens: the run ends here
                }
                let started = Instant::now();
                let result = match conn {
                    Conn::KeepAlive => match sender.as_mut() {
                        Some(s) => request(s, &t, token, auth != Auth::None).await,
                        None => Err(format!("connection {slot} was not opened")),
                    },
                    Conn::New => match connect(&t, &tls).await {
                        Ok(mut s) => request(&mut s, &t, token, auth != Auth::None).await,
                        Err(e) => Err(e),
                    },
                };
                let failed = result.is_err();
                tally.record(started, result);
                if failed && conn == Conn::KeepAlive {
                    break; // the connection is in an unknown state
                }
            }
            tally
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(tally) => {
                out.ok += tally.ok;
                out.errors += tally.errors;
                if out.first_error.is_none() {
                    out.first_error = tally.first_error;
                }
                out.latencies_us.extend(tally.latencies_us);
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("task: {e}"));
            }
        }
    }
    out.secs = start.elapsed().as_secs_f64();
    out
}

/// The `q` quantile (0..=1) of `v` in microseconds (sorts `v`), nearest rank.
pub fn quantile_us(v: &mut [u32], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(f64::from(v[rank - 1]))
}
