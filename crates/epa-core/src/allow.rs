//! Authorization after authentication: `allow_users` and `allow_groups`.
//!
//! * A list with only users admits those users; with only groups, members of those groups; with
//!   both, either suffices. With neither, every authenticated caller is admitted.
//! * Users are `DOMAIN\user` (the principal as the layer reports it: for Kerberos the domain is
//!   the realm, `REALM\user`).
//! * Group entries are SIDs (`S-1-5-21-…-1105`, compared by value with the backend's group SIDs:
//!   winbind, the Kerberos PAC) or names (`DOMAIN\Group`, compared with the group names the
//!   backend resolved, if it resolved any: a backend that reports only SIDs never matches a
//!   name). An entry that starts with `S-` and a digit is a SID and must parse.
//! * Names compare case-insensitively with .NET's ordinal casing ([`crate::spn::fold_case`]),
//!   as Windows compares account names.
//! * Nested groups: the backend reports the expanded membership (winbind's
//!   `wbcAuthenticateUserEx` and the PAC both carry every group the account is in, directly or
//!   through other groups), so membership here is a plain set lookup.

use crate::sid::{Sid, SidError};
use crate::spn::fold_case;
use std::collections::{BTreeSet, HashSet};
use thiserror::Error;

/// An `allow_groups` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEntry {
    /// A group SID.
    Sid(Sid),
    /// A group name, as written (`DOMAIN\Group`).
    Name(String),
}

impl GroupEntry {
    /// Reads one entry: a SID when it starts with `S-` and a digit (and then it must parse),
    /// otherwise a name.
    pub fn parse(entry: &str) -> Result<Self, SidError> {
        let b = entry.as_bytes();
        if b.len() > 2 && (b[0] == b'S' || b[0] == b's') && b[1] == b'-' && b[2].is_ascii_digit() {
            entry.parse().map(Self::Sid)
        } else {
            Ok(Self::Name(entry.to_owned()))
        }
    }

    /// Whether a name has the `DOMAIN\Group` shape (one backslash, both sides non-empty). SIDs
    /// always do.
    pub fn is_qualified(&self) -> bool {
        match self {
            Self::Sid(_) => true,
            Self::Name(n) => matches!(n.split_once('\\'),
                Some((d, g)) if !d.is_empty() && !g.is_empty() && !g.contains('\\')),
        }
    }
}

/// An `allow_groups` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("allow_groups entry {index}: {source}")]
pub struct AllowError {
    /// The entry's index.
    pub index: usize,
    /// Why its SID does not parse.
    #[source]
    pub source: SidError,
}

/// Why an authenticated caller is refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Only users are listed, and the caller is not one of them.
    UserNotAllowed,
    /// Groups are listed, and the caller is neither a listed user nor in a listed group.
    GroupNotAllowed,
}

impl Denial {
    /// The stable reason code (metric label, 403 body).
    pub fn code(self) -> &'static str {
        match self {
            Self::UserNotAllowed => "user-not-allowed",
            Self::GroupNotAllowed => "group-not-allowed",
        }
    }
}

/// Who is asking, as the backend reported it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `DOMAIN\user` (or `user` without a domain).
    pub principal: &'a str,
    /// The group SIDs (nested membership expanded).
    pub groups: &'a [Sid],
    /// The group names (`DOMAIN\Group`), when the backend resolved them.
    pub group_names: &'a [String],
}

/// `allow_users` and `allow_groups`, folded for comparison.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    users: HashSet<String>,
    group_sids: BTreeSet<Sid>,
    group_names: HashSet<String>,
}

impl AllowList {
    /// From the lists as written. A group entry that looks like a SID and does not parse is an
    /// error.
    pub fn new<U: AsRef<str>, G: AsRef<str>>(
        users: &[U],
        groups: &[G],
    ) -> Result<Self, AllowError> {
        let mut out = Self {
            users: users.iter().map(|u| fold_case(u.as_ref())).collect(),
            ..Self::default()
        };
        for (index, g) in groups.iter().enumerate() {
            match GroupEntry::parse(g.as_ref()).map_err(|source| AllowError { index, source })? {
                GroupEntry::Sid(s) => {
                    out.group_sids.insert(s);
                }
                GroupEntry::Name(n) => {
                    out.group_names.insert(fold_case(&n));
                }
            }
        }
        Ok(out)
    }

    /// Whether both lists are empty (everyone authenticated is admitted).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && !self.has_groups()
    }

    fn has_groups(&self) -> bool {
        !self.group_sids.is_empty() || !self.group_names.is_empty()
    }

    /// Admits or refuses `caller`.
    pub fn check(&self, caller: &Caller<'_>) -> Result<(), Denial> {
        if self.is_empty() {
            return Ok(());
        }
        if !self.users.is_empty() && self.users.contains(&fold_case(caller.principal)) {
            return Ok(());
        }
        if !self.has_groups() {
            return Err(Denial::UserNotAllowed);
        }
        let by_sid = caller.groups.iter().any(|g| self.group_sids.contains(g));
        let by_name = || {
            !self.group_names.is_empty()
                && caller
                    .group_names
                    .iter()
                    .any(|n| self.group_names.contains(&fold_case(n)))
        };
        if by_sid || by_name() {
            Ok(())
        } else {
            Err(Denial::GroupNotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = "S-1-5-21-1-2-3-1105";

    fn caller<'a>(principal: &'a str, groups: &'a [Sid], names: &'a [String]) -> Caller<'a> {
        Caller {
            principal,
            groups,
            group_names: names,
        }
    }

    #[test]
    fn entries() {
        assert_eq!(
            GroupEntry::parse(WEB).unwrap(),
            GroupEntry::Sid(WEB.parse().unwrap())
        );
        assert!(GroupEntry::parse("S-1-5-021").is_err());
        assert!(
            GroupEntry::parse("s-1-5-21").is_err(),
            "lower-case s is a SID that fails"
        );
        assert_eq!(
            GroupEntry::parse("S-Team").unwrap(),
            GroupEntry::Name("S-Team".into())
        );
        assert!(GroupEntry::parse("EPA\\WebUsers").unwrap().is_qualified());
        for bad in ["WebUsers", "\\WebUsers", "EPA\\", "A\\B\\C"] {
            assert!(!GroupEntry::parse(bad).unwrap().is_qualified(), "{bad}");
        }
        let e = AllowList::new(&["EPA\\alice"], &["EPA\\x", "S-1-5-x"]).unwrap_err();
        assert_eq!(e.index, 1);
    }

    #[test]
    fn users_only_groups_only_both() {
        let web: Sid = WEB.parse().unwrap();
        let other: Sid = "S-1-5-21-1-2-3-1106".parse().unwrap();
        let none: [String; 0] = [];
        let users = AllowList::new(&["EPA\\alice"], &none).unwrap();
        assert_eq!(users.check(&caller("epa\\ALICE", &[], &[])), Ok(()));
        assert_eq!(
            users.check(&caller("EPA\\bob", std::slice::from_ref(&web), &[])),
            Err(Denial::UserNotAllowed)
        );
        let groups = AllowList::new(&none, &[WEB]).unwrap();
        assert_eq!(
            groups.check(&caller("EPA\\bob", &[other.clone(), web.clone()], &[])),
            Ok(())
        );
        assert_eq!(
            groups.check(&caller("EPA\\alice", std::slice::from_ref(&other), &[])),
            Err(Denial::GroupNotAllowed)
        );
        let both = AllowList::new(&["EPA\\alice"], &[WEB]).unwrap();
        assert_eq!(both.check(&caller("EPA\\alice", &[], &[])), Ok(()));
        assert_eq!(
            both.check(&caller("EPA\\bob", std::slice::from_ref(&web), &[])),
            Ok(())
        );
        assert_eq!(
            both.check(&caller("EPA\\bob", &[other], &[])),
            Err(Denial::GroupNotAllowed)
        );
        let empty = AllowList::new(&none, &none).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.check(&caller("anyone", &[], &[])), Ok(()));
    }

    #[test]
    fn names_fold_with_ordinal_casing() {
        let none: [String; 0] = [];
        let list = AllowList::new(&none, &["EPA\\Web-Ünits"]).unwrap();
        let names = ["epa\\web-üNITS".to_owned()];
        assert_eq!(list.check(&caller("EPA\\bob", &[], &names)), Ok(()));
        // A SID-only backend never matches a name.
        let sid: Sid = WEB.parse().unwrap();
        assert_eq!(
            list.check(&caller("EPA\\bob", &[sid], &[])),
            Err(Denial::GroupNotAllowed)
        );
        // Ordinal casing keeps dotless ı apart from I.
        let list = AllowList::new(&none, &["EPA\\Admins"]).unwrap();
        let names = ["EPA\\admıns".to_owned()];
        assert_eq!(
            list.check(&caller("EPA\\bob", &[], &names)),
            Err(Denial::GroupNotAllowed)
        );
        let users = AllowList::new(&["ЕРА\\alice"], &none).unwrap();
        assert_eq!(
            users.check(&caller("EPA\\alice", &[], &[])),
            Err(Denial::UserNotAllowed),
            "Cyrillic look-alikes differ"
        );
    }
}
