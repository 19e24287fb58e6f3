//! The user file of the embedded NTLM acceptor: `DOMAIN:USER:PASSWORD` lines, the gss-ntlmssp
//! `NTLM_USER_FILE` format. A password field of the form `$NT$` followed by 32 hex digits is an
//! NT hash (MD4 of the UTF-16LE password) instead of a password. `#` starts a comment line; an
//! empty DOMAIN matches any domain the client names.

use crate::casing::upcase;
use crate::crypto::{Key16, nt_hash};
use std::collections::HashMap;
use thiserror::Error;
use zeroize::Zeroizing;

/// A user file that cannot be used. Names lines, never a password or hash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UserFileError {
    /// A line that cannot be read.
    #[error("user file line {line}: {problem}")]
    Line {
        /// One-based line number.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// An empty password (or the NT hash of one) while [`UserFileOptions::allow_empty_passwords`]
    /// is off.
    #[error("user file line {line}: empty password (refused unless empty passwords are allowed)")]
    EmptyPassword {
        /// One-based line number.
        line: usize,
    },
    /// Two lines name the same account once upper-cased as Windows does.
    #[error(
        "user file lines {first} and {line}: both name the account {account} (names are compared upper-cased, as Windows does)"
    )]
    DuplicateAccount {
        /// The earlier line.
        first: usize,
        /// The later line.
        line: usize,
        /// `DOMAIN\USER` as upper-cased, control characters escaped.
        account: String,
    },
}

impl UserFileError {
    /// The (last) line the error is about, one-based.
    pub fn line(&self) -> usize {
        match self {
            Self::Line { line, .. }
            | Self::EmptyPassword { line }
            | Self::DuplicateAccount { line, .. } => *line,
        }
    }
}

/// How a user file is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserFileOptions {
    /// Accept accounts whose password is empty (off by default: an empty password is one any
    /// client guesses first).
    pub allow_empty_passwords: bool,
}

impl UserFileOptions {
    /// Sets [`UserFileOptions::allow_empty_passwords`].
    pub fn allow_empty_passwords(mut self, allow: bool) -> Self {
        self.allow_empty_passwords = allow;
        self
    }
}

/// The NT hash of the empty password (MD4 of nothing).
const EMPTY_PASSWORD_NT_HASH: [u8; 16] = [
    0x31, 0xd6, 0xcf, 0xe0, 0xd1, 0x6a, 0xe9, 0x31, 0xb7, 0x3c, 0x59, 0xd7, 0xe0, 0xc0, 0x89, 0xc0,
];

/// One account.
#[derive(Clone)]
pub struct Account {
    /// The domain as written in the file (empty: any domain).
    pub domain: String,
    /// The user as written in the file.
    pub user: String,
    pub(crate) nt_hash: Key16,
    line: usize,
}

impl Account {
    /// The account's throttling name: `UPPER(domain)\UPPER(user)` as written in the file.
    pub(crate) fn folded_name(&self) -> String {
        folded_name(&self.domain, &self.user)
    }
}

/// `UPPER(domain)\UPPER(user)` with Windows upper-casing.
pub(crate) fn folded_name(domain: &str, user: &str) -> String {
    format!("{}\\{}", upcase(domain), upcase(user))
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the hash.
        write!(f, "Account({}\\{})", self.domain, self.user)
    }
}

/// The accounts, looked up by (domain, user) upper-cased as Windows does (one UTF-16 unit to
/// one, `RtlUpcaseUnicodeChar`-like: see `casing`).
#[derive(Clone, Default)]
pub struct UserDb {
    by_name: HashMap<(String, String), Account>,
}

impl std::fmt::Debug for UserDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserDb({} accounts)", self.by_name.len())
    }
}

impl UserDb {
    /// Parses a user file with the default options (empty passwords refused).
    pub fn parse(text: &str) -> Result<Self, UserFileError> {
        Self::parse_with(text, UserFileOptions::default())
    }

    /// Parses a user file. Refuses two lines naming one account after upper-casing, and empty
    /// passwords unless `options` allows them. The caller owns `text` and should wipe it.
    pub fn parse_with(text: &str, options: UserFileOptions) -> Result<Self, UserFileError> {
        let mut db = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let number = i + 1;
            let err = |problem| UserFileError::Line {
                line: number,
                problem,
            };
            let mut parts = line.splitn(3, ':');
            let (Some(domain), Some(user), Some(secret)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected DOMAIN:USER:PASSWORD"));
            };
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            let hash = match secret.strip_prefix("$NT$") {
                Some(hex) => {
                    parse_hash(hex).ok_or_else(|| err("$NT$ must be followed by 32 hex digits"))?
                }
                None => nt_hash(secret),
            };
            if !options.allow_empty_passwords && *hash == EMPTY_PASSWORD_NT_HASH {
                return Err(UserFileError::EmptyPassword { line: number });
            }
            let key = (upcase(domain), upcase(user));
            if let Some(first) = db.by_name.get(&key) {
                return Err(UserFileError::DuplicateAccount {
                    first: first.line,
                    line: number,
                    account: format!("{}\\{}", key.0.escape_debug(), key.1.escape_debug()),
                });
            }
            db.insert_at(key, domain, user, hash, number);
        }
        Ok(db)
    }

    /// Adds (or replaces) an account with a password.
    pub fn add_password(&mut self, domain: &str, user: &str, password: &str) {
        self.insert_at(
            (upcase(domain), upcase(user)),
            domain,
            user,
            nt_hash(password),
            0,
        );
    }

    fn insert_at(
        &mut self,
        key: (String, String),
        domain: &str,
        user: &str,
        nt_hash: Key16,
        line: usize,
    ) {
        self.by_name.insert(
            key,
            Account {
                domain: domain.to_owned(),
                user: user.to_owned(),
                nt_hash,
                line,
            },
        );
    }

    /// The account for (domain, user): an exact match first, then one with an empty domain.
    pub fn find(&self, domain: &str, user: &str) -> Option<&Account> {
        let user = upcase(user);
        self.by_name
            .get(&(upcase(domain), user.clone()))
            .or_else(|| self.by_name.get(&(String::new(), user)))
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn parse_hash(hex: &str) -> Option<Key16> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 16]);
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwords_hashes_comments() {
        let db = UserDb::parse(
            "# demo\nTESTDOM:alice:userpw\n\n:bob:$NT$a4f49c406510bdcab6824ee7c30fd852\nD:carol:pa:ss\r\n",
        )
        .unwrap();
        assert_eq!(db.len(), 3);
        assert_eq!(
            db.find("testdom", "ALICE").unwrap().nt_hash,
            nt_hash("userpw")
        );
        assert_eq!(db.find("ANY", "bob").unwrap().nt_hash, nt_hash("Password"));
        assert_eq!(db.find("d", "carol").unwrap().nt_hash, nt_hash("pa:ss"));
        assert!(db.find("OTHER", "alice").is_none());
    }

    #[test]
    fn bad_lines_name_their_line_and_not_the_secret() {
        let e = UserDb::parse("ok:a:b\nnocolons\n").unwrap_err();
        assert_eq!(e.line(), 2);
        let e = UserDb::parse("D::pw").unwrap_err();
        assert_eq!(
            e,
            UserFileError::Line {
                line: 1,
                problem: "empty user name"
            }
        );
        let e = UserDb::parse("D:u:$NT$zz").unwrap_err();
        assert!(!e.to_string().contains("zz"));
        assert!(!format!("{:?}", UserDb::parse("D:u:secret").unwrap()).contains("secret"));
    }

    #[test]
    fn lookup_folds_as_windows_does_without_expansion() {
        let db = UserDb::parse("D:straße:pw1\nD:ﬁle:pw2\n").unwrap();
        assert_eq!(db.find("d", "STRAßE").unwrap().user, "straße");
        assert_eq!(db.find("D", "ﬁLE").unwrap().user, "ﬁle");
        // Full case mapping would make these the same accounts; Windows does not.
        assert!(db.find("D", "STRASSE").is_none());
        assert!(db.find("D", "FILE").is_none());
    }

    #[test]
    fn accounts_colliding_after_upper_casing_are_refused_naming_both_lines() {
        let e = UserDb::parse("# x\nD:Émile:first-secret\nd:émile:second-secret\n").unwrap_err();
        assert_eq!(
            e,
            UserFileError::DuplicateAccount {
                first: 2,
                line: 3,
                account: "D\\ÉMILE".into()
            }
        );
        let text = e.to_string();
        assert!(text.contains("lines 2 and 3"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        // Wildcard accounts collide with each other, not with domain accounts.
        assert!(UserDb::parse(":bob:a1\n:BOB:a2").is_err());
        assert!(UserDb::parse(":bob:a1\nD:bob:a2").is_ok());
        // Not the same account for Windows: no collision.
        assert!(UserDb::parse("D:straße:a1\nD:STRASSE:a2").is_ok());
        // Control characters in the name are escaped in the message.
        let e = UserDb::parse("D:a\u{1b}[2J:x1\nD:A\u{1b}[2J:x2").unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn empty_passwords_are_refused_unless_allowed() {
        for text in [
            "D:u:",
            "D:u:$NT$31d6cfe0d16ae931b73c59d7e0c089c0",
            "D:u:$NT$31D6CFE0D16AE931B73C59D7E0C089C0",
        ] {
            assert_eq!(
                UserDb::parse(&format!("D:ok:pw\n{text}")).unwrap_err(),
                UserFileError::EmptyPassword { line: 2 },
                "{text}"
            );
            let db =
                UserDb::parse_with(text, UserFileOptions::default().allow_empty_passwords(true))
                    .unwrap();
            assert_eq!(*db.find("D", "u").unwrap().nt_hash, EMPTY_PASSWORD_NT_HASH);
        }
        assert_eq!(*nt_hash(""), EMPTY_PASSWORD_NT_HASH);
    }
}
