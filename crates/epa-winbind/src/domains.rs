//! The domains a client may name: ours and every domain winbind trusts (`wbcCtxListTrusts`),
//! learnt at start and refreshed, or the `[backend] domains` list. A logon naming any other
//! domain is refused before winbind is asked (a client-chosen domain would otherwise cost a
//! winbindd round trip — and a `max_in_flight` slot — for as long as winbindd searches).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a learnt list is used before it is asked for again.
pub(crate) const REFRESH: Duration = Duration::from_secs(300);
/// A name not in the list makes the list be asked for again at most this often (a trust
/// added since).
pub(crate) const RETRY: Duration = Duration::from_secs(60);

/// Upper-cased NetBIOS and DNS names, each to the domain's canonical (NetBIOS) name.
pub(crate) type Names = HashMap<String, String>;

/// Builds the name table from (NetBIOS, DNS) pairs.
pub(crate) fn names(pairs: &[crate::ffi::DomainNames]) -> Names {
    let mut out = Names::new();
    for (short, dns) in pairs {
        let canonical = short
            .as_deref()
            .or(dns.as_deref())
            .unwrap_or_default()
            .to_uppercase();
        for n in [short, dns].into_iter().flatten() {
            if !n.is_empty() {
                out.insert(n.to_uppercase(), canonical.clone());
            }
        }
    }
    out
}

/// The learnt list and when it was last asked for.
#[derive(Debug, Default)]
pub(crate) struct Learnt {
    pub(crate) names: Option<Names>,
    pub(crate) asked: Option<Instant>,
}

/// What to do for a domain name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Known, with its canonical name.
    Known(String),
    /// Not in a list that is fresh enough.
    Untrusted,
    /// Ask winbind for the list again, then decide.
    Refresh,
    /// No list: let winbind judge the logon.
    Unknown,
}

impl Learnt {
    /// The verdict for `domain` at `now`.
    pub(crate) fn verdict(&self, domain: &str, now: Instant) -> Verdict {
        let since = self.asked.map(|t| now.saturating_duration_since(t));
        let stale = since.is_none_or(|d| d >= REFRESH);
        match &self.names {
            Some(n) => match n.get(&domain.to_uppercase()) {
                Some(c) if !stale => Verdict::Known(c.clone()),
                Some(_) => Verdict::Refresh,
                None if since.is_none_or(|d| d >= RETRY) => Verdict::Refresh,
                None => Verdict::Untrusted,
            },
            None if stale || since.is_none_or(|d| d >= RETRY) => Verdict::Refresh,
            None => Verdict::Unknown,
        }
    }
}

/// The learnt list behind a lock.
#[derive(Debug, Default)]
pub(crate) struct Domains(pub(crate) Mutex<Learnt>);

#[cfg(test)]
mod tests {
    use super::*;

    fn learnt(at: Instant) -> Learnt {
        Learnt {
            names: Some(names(&[
                (Some("EPA".into()), Some("epa.test".into())),
                (Some("BUILTIN".into()), None),
                (Some("CHILD".into()), Some("child.epa.test".into())),
            ])),
            asked: Some(at),
        }
    }

    #[test]
    fn netbios_and_dns_names_fold_to_the_netbios_name() {
        let t0 = Instant::now();
        let l = learnt(t0);
        assert_eq!(l.verdict("epa.TEST", t0), Verdict::Known("EPA".into()));
        assert_eq!(l.verdict("child", t0), Verdict::Known("CHILD".into()));
        assert_eq!(l.verdict("EVIL", t0), Verdict::Untrusted);
    }

    #[test]
    fn the_list_is_asked_for_again_when_stale_and_at_most_once_a_minute_for_a_miss() {
        let t0 = Instant::now();
        let l = learnt(t0);
        assert_eq!(l.verdict("EVIL", t0 + RETRY), Verdict::Refresh);
        assert_eq!(l.verdict("EPA", t0 + REFRESH), Verdict::Refresh);
        // Never learnt (winbind down at start): winbind judges, and the list is asked for
        // again once a minute.
        let none = Learnt {
            names: None,
            asked: Some(t0),
        };
        assert_eq!(none.verdict("EPA", t0), Verdict::Unknown);
        assert_eq!(none.verdict("EPA", t0 + RETRY), Verdict::Refresh);
        assert_eq!(Learnt::default().verdict("EPA", t0), Verdict::Refresh);
    }
}
