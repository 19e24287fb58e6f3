//! The user file of the embedded NTLM acceptor: `DOMAIN:USER:PASSWORD` lines, the gss-ntlmssp
//! `NTLM_USER_FILE` format. A password field of the form `$NT$` followed by 32 hex digits is an
//! NT hash (MD4 of the UTF-16LE password) instead of a password. `#` starts a comment line; an
//! empty DOMAIN matches any domain the client names.

use super::crypto::nt_hash;
use std::collections::HashMap;
use thiserror::Error;

/// A user file line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("user file line {line}: {problem}")]
pub struct UserFileError {
    /// One-based line number.
    pub line: usize,
    /// What is wrong (never the password).
    pub problem: &'static str,
}

/// One account.
#[derive(Clone)]
pub struct Account {
    /// The domain as written in the file.
    pub domain: String,
    /// The user as written in the file.
    pub user: String,
    pub(crate) nt_hash: [u8; 16],
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the hash.
        write!(f, "Account({}\\{})", self.domain, self.user)
    }
}

/// The accounts, looked up case-insensitively by (domain, user).
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
    /// Parses a user file.
    pub fn parse(text: &str) -> Result<Self, UserFileError> {
        let mut db = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |problem| UserFileError {
                line: i + 1,
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
            db.insert(domain, user, hash);
        }
        Ok(db)
    }

    /// Adds (or replaces) an account with a password.
    pub fn add_password(&mut self, domain: &str, user: &str, password: &str) {
        self.insert(domain, user, nt_hash(password));
    }

    fn insert(&mut self, domain: &str, user: &str, nt_hash: [u8; 16]) {
        self.by_name.insert(
            (domain.to_uppercase(), user.to_uppercase()),
            Account {
                domain: domain.to_owned(),
                user: user.to_owned(),
                nt_hash,
            },
        );
    }

    /// The account for (domain, user): an exact match first, then one with an empty domain.
    pub fn find(&self, domain: &str, user: &str) -> Option<&Account> {
        let user = user.to_uppercase();
        self.by_name
            .get(&(domain.to_uppercase(), user.clone()))
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

fn parse_hash(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
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
        assert_eq!(e.line, 2);
        let e = UserDb::parse("D::pw").unwrap_err();
        assert_eq!(e.problem, "empty user name");
        let e = UserDb::parse("D:u:$NT$zz").unwrap_err();
        assert!(!e.to_string().contains("zz"));
        assert!(!format!("{:?}", UserDb::parse("D:u:secret").unwrap()).contains("secret"));
    }
}
