//! One exchange with a realm's KDCs over TCP (RFC 4120 §7.2.2: a 4-byte big-endian length,
//! then the message, each way): the configured KDCs in order, each with a connect deadline and
//! a reply deadline, the reply's length bounded before a byte of it is buffered.

use epa_config::kdc_proxy::KdcAddress;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The deadlines and the bound of one exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Per KDC: the TCP connect (a name's resolution included).
    pub(crate) connect: Duration,
    /// Per KDC: request written → whole reply read.
    pub(crate) reply: Duration,
    /// The largest reply message (after its 4-byte length).
    pub(crate) max_reply: usize,
}

/// Why no KDC gave a reply. The last KDC's failure is what is reported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// No KDC accepted the connection (refused, unreachable, name not resolved).
    #[error("cannot connect to KDC {kdc}: {source}")]
    Connect {
        /// The KDC.
        kdc: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connect deadline passed.
    #[error("KDC {kdc} did not accept the connection within {after:?}")]
    ConnectTimeout {
        /// The KDC.
        kdc: String,
        /// The deadline.
        after: Duration,
    },
    /// The connection broke while writing or reading.
    #[error("KDC {kdc}: connection broken: {source}")]
    Io {
        /// The KDC.
        kdc: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No whole reply within the deadline.
    #[error("KDC {kdc} did not reply within {after:?}")]
    ReplyTimeout {
        /// The KDC.
        kdc: String,
        /// The deadline.
        after: Duration,
    },
    /// The reply's length is past `max_message_bytes`: nothing of it was read.
    #[error("KDC {kdc} announced a {declared}-byte reply, more than max_message_bytes ({max})")]
    ReplyTooLarge {
        /// The KDC.
        kdc: String,
        /// The announced length.
        declared: u64,
        /// The bound.
        max: usize,
    },
}

impl ForwardError {
    /// The metrics' `outcome` label.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "kdc-unreachable",
            Self::ConnectTimeout { .. } => "kdc-connect-timeout",
            Self::Io { .. } => "kdc-connection-broken",
            Self::ReplyTimeout { .. } => "kdc-timeout",
            Self::ReplyTooLarge { .. } => "kdc-reply-too-large",
        }
    }

    /// Whether the next KDC is worth trying (a reply too large would be too large there too).
    fn try_next(&self) -> bool {
        !matches!(self, Self::ReplyTooLarge { .. })
    }
}

/// Sends `framed` (length prefix included) to the first KDC that answers; the reply's message,
/// without its length.
pub(crate) async fn exchange(
    kdcs: &[KdcAddress],
    framed: &[u8],
    limits: Limits,
) -> Result<Vec<u8>, ForwardError> {
    let mut last = None;
    for kdc in kdcs {
        match one(kdc, framed, limits).await {
            Ok(reply) => return Ok(reply),
            Err(e) => {
                tracing::info!(target: "epa", kdc = %kdc, "KDC proxy: {e}");
                let next = e.try_next();
                last = Some(e);
                if !next {
                    break;
                }
            }
        }
    }
    // The settings never hold a realm without a KDC; an empty list reads as unreachable.
    Err(last.unwrap_or_else(|| ForwardError::Connect {
        kdc: String::new(),
        source: std::io::ErrorKind::NotFound.into(),
    }))
}

/// One KDC: connect, write, read the length, read the message.
async fn one(kdc: &KdcAddress, framed: &[u8], limits: Limits) -> Result<Vec<u8>, ForwardError> {
    let name = kdc.to_string();
    let connect = TcpStream::connect((kdc.host.as_str(), kdc.port));
    let mut stream = match tokio::time::timeout(limits.connect, connect).await {
        Err(_) => {
            return Err(ForwardError::ConnectTimeout {
                kdc: name,
                after: limits.connect,
            });
        }
        Ok(Err(source)) => return Err(ForwardError::Connect { kdc: name, source }),
        Ok(Ok(s)) => s,
    };
    // Kerberos exchanges are one small write each way: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let talk = async {
        stream.write_all(framed).await?;
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).await?;
        let declared = u32::from_be_bytes(length);
        let Some(size) = usize::try_from(declared)
            .ok()
            .filter(|n| *n <= limits.max_reply)
        else {
            return Ok(Err(u64::from(declared)));
        };
        let mut reply = vec![0u8; size];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(Ok(reply))
    };
    match tokio::time::timeout(limits.reply, talk).await {
        Err(_) => Err(ForwardError::ReplyTimeout {
            kdc: name,
            after: limits.reply,
        }),
        Ok(Err(source)) => Err(ForwardError::Io { kdc: name, source }),
        Ok(Ok(Err(declared))) => Err(ForwardError::ReplyTooLarge {
            kdc: name,
            declared,
            max: limits.max_reply,
        }),
        Ok(Ok(Ok(reply))) => Ok(reply),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::net::TcpListener;

    const LIMITS: Limits = Limits {
        connect: Duration::from_secs(2),
        reply: Duration::from_millis(300),
        max_reply: 64,
    };

    fn at(addr: std::net::SocketAddr) -> KdcAddress {
        KdcAddress {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }

    /// A fake KDC that reads one framed request and answers `reply` (raw bytes).
    async fn fake_kdc(reply: Vec<u8>) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut len = [0u8; 4];
            s.read_exact(&mut len).await.unwrap();
            let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut req).await.unwrap();
            s.write_all(&reply).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        addr
    }

    #[tokio::test]
    async fn a_reply_is_read_to_its_length() {
        let kdc = fake_kdc(vec![0, 0, 0, 2, 0x7e, 0x00, 0xff]).await;
        let reply = exchange(&[at(kdc)], &[0, 0, 0, 1, 0x6a], LIMITS)
            .await
            .unwrap();
        assert_eq!(reply, [0x7e, 0x00]);
    }

    #[tokio::test]
    async fn a_dead_kdc_is_skipped_and_limits_hold() {
        // A closed port first, then a live KDC.
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let live = fake_kdc(vec![0, 0, 0, 1, 0x7e]).await;
        let reply = exchange(&[at(dead_addr), at(live)], &[0, 0, 0, 1, 0x6a], LIMITS)
            .await
            .unwrap();
        assert_eq!(reply, [0x7e]);
        // Only the dead one: unreachable.
        let e = exchange(&[at(dead_addr)], &[0, 0, 0, 1, 0x6a], LIMITS)
            .await
            .unwrap_err();
        assert_eq!(e.outcome(), "kdc-unreachable");
        // Too large: refused on the length alone.
        let big = fake_kdc(vec![0, 0, 1, 0]).await;
        let e = exchange(&[at(big)], &[0, 0, 0, 1, 0x6a], LIMITS)
            .await
            .unwrap_err();
        assert_eq!(e.outcome(), "kdc-reply-too-large");
        // Silent: the reply deadline.
        let mute = fake_kdc(vec![0, 0]).await;
        let started = std::time::Instant::now();
        let e = exchange(&[at(mute)], &[0, 0, 0, 1, 0x6a], LIMITS)
            .await
            .unwrap_err();
        assert_eq!(e.outcome(), "kdc-timeout");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
