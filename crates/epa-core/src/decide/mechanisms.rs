//! Which mechanisms a route accepts (`[policy] mechanisms`): Kerberos, NTLM, or both.
//!
//! IIS's counterpart is the `windowsAuthentication` providers list: with `Negotiate:Kerberos`
//! as its only provider IIS offers `Negotiate` and its Kerberos package alone, so an NTLM token,
//! bare or inside SPNEGO, fails the exchange (401). Microsoft's plan to switch NTLM off (audit,
//! then block) is why a route may refuse NTLM while Kerberos users are unaffected.
//! docs/moving-to-kerberos.md.

use super::Mechanism;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A `mechanisms` list that cannot be a route's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MechanismsError {
    /// An empty list would refuse every client.
    #[error("mechanisms is empty: name kerberos, ntlm or both")]
    Empty,
    /// `other` is not a mechanism a route can name (it is how a backend reports something
    /// that is neither, and is accepted exactly where NTLM is).
    #[error("mechanism \"other\" cannot be listed: name kerberos, ntlm or both")]
    Other,
}

/// The set of mechanisms a route accepts. [`Mechanism::Other`] (e.g. Digest through SSPI) is
/// accepted exactly where NTLM is, as the decision treats it like NTLM everywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mechanisms {
    kerberos: bool,
    ntlm: bool,
}

impl Default for Mechanisms {
    /// Both: what every Windows-authenticated server accepts unless told otherwise.
    fn default() -> Self {
        Self::ALL
    }
}

impl Mechanisms {
    /// Kerberos and NTLM (the default).
    pub const ALL: Self = Self {
        kerberos: true,
        ntlm: true,
    };
    /// Kerberos only (IIS: `Negotiate:Kerberos` as the only provider).
    pub const KERBEROS: Self = Self {
        kerberos: true,
        ntlm: false,
    };
    /// NTLM only (what an NTLM-only backend can complete).
    pub const NTLM: Self = Self {
        kerberos: false,
        ntlm: true,
    };

    /// The set a configuration list names. Order does not matter; repeats are harmless.
    pub fn from_list(list: &[Mechanism]) -> Result<Self, MechanismsError> {
        let mut set = Self {
            kerberos: false,
            ntlm: false,
        };
        for m in list {
            match m {
                Mechanism::Kerberos => set.kerberos = true,
                Mechanism::Ntlm => set.ntlm = true,
                Mechanism::Other => return Err(MechanismsError::Other),
            }
        }
        if set
            == (Self {
                kerberos: false,
                ntlm: false,
            })
        {
            return Err(MechanismsError::Empty);
        }
        Ok(set)
    }

    /// Whether an exchange completed with `mechanism` may be accepted.
    pub fn permits(self, mechanism: Mechanism) -> bool {
        match mechanism {
            Mechanism::Kerberos => self.kerberos,
            Mechanism::Ntlm | Mechanism::Other => self.ntlm,
        }
    }

    /// Whether some mechanism is in both sets (a route on a backend that can complete none of
    /// the route's mechanisms can never accept anyone: a configuration error).
    pub fn overlaps(self, other: Self) -> bool {
        (self.kerberos && other.kerberos) || (self.ntlm && other.ntlm)
    }

    /// The mechanisms, Kerberos first, as configuration names them.
    pub fn list(self) -> Vec<Mechanism> {
        [
            (self.kerberos, Mechanism::Kerberos),
            (self.ntlm, Mechanism::Ntlm),
        ]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect()
    }
}

impl std::fmt::Display for Mechanisms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.list().into_iter().map(Mechanism::name).collect();
        f.write_str(&names.join(", "))
    }
}

impl Serialize for Mechanisms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.list().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Mechanisms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Mechanism>::deserialize(d)?;
        Self::from_list(&list).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mechanism::*;

    #[test]
    fn a_list_names_a_set() {
        assert_eq!(Mechanisms::from_list(&[Kerberos]), Ok(Mechanisms::KERBEROS));
        assert_eq!(Mechanisms::from_list(&[Ntlm]), Ok(Mechanisms::NTLM));
        assert_eq!(
            Mechanisms::from_list(&[Ntlm, Kerberos]),
            Ok(Mechanisms::ALL)
        );
        assert_eq!(
            Mechanisms::from_list(&[Kerberos, Kerberos]),
            Ok(Mechanisms::KERBEROS)
        );
        assert_eq!(Mechanisms::from_list(&[]), Err(MechanismsError::Empty));
        assert_eq!(
            Mechanisms::from_list(&[Kerberos, Other]),
            Err(MechanismsError::Other)
        );
        assert_eq!(Mechanisms::default(), Mechanisms::ALL);
    }

    /// `other` goes where NTLM goes (the decision treats it like NTLM).
    #[test]
    fn permits_per_mechanism() {
        let cases = [
            (Mechanisms::ALL, [true, true, true]),
            (Mechanisms::KERBEROS, [true, false, false]),
            (Mechanisms::NTLM, [false, true, true]),
        ];
        for (set, expected) in cases {
            let got = [Kerberos, Ntlm, Other].map(|m| set.permits(m));
            assert_eq!(got, expected, "{set}");
        }
    }

    #[test]
    fn overlaps_needs_a_shared_mechanism() {
        assert!(Mechanisms::ALL.overlaps(Mechanisms::KERBEROS));
        assert!(Mechanisms::ALL.overlaps(Mechanisms::NTLM));
        assert!(Mechanisms::KERBEROS.overlaps(Mechanisms::KERBEROS));
        assert!(Mechanisms::NTLM.overlaps(Mechanisms::NTLM));
        assert!(!Mechanisms::KERBEROS.overlaps(Mechanisms::NTLM));
        assert!(!Mechanisms::NTLM.overlaps(Mechanisms::KERBEROS));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(Mechanisms::ALL.to_string(), "kerberos, ntlm");
        assert_eq!(Mechanisms::KERBEROS.to_string(), "kerberos");
        assert_eq!(Mechanisms::NTLM.to_string(), "ntlm");
        #[derive(Deserialize, Serialize)]
        struct T {
            m: Mechanisms,
        }
        let t: T = toml::from_str(r#"m = ["ntlm", "kerberos"]"#).unwrap();
        assert_eq!(t.m, Mechanisms::ALL);
        assert_eq!(
            toml::to_string(&t).unwrap().trim(),
            r#"m = ["kerberos", "ntlm"]"#
        );
        for bad in [r#"m = []"#, r#"m = ["other"]"#, r#"m = ["digest"]"#] {
            assert!(toml::from_str::<T>(bad).is_err(), "{bad}");
        }
    }
}
