//! Wire names: the one table each configuration enum's spelling comes from.
//!
//! A name appears once, in the enum's `wire_names!` table; `name()`, `FromStr`, `Display`,
//! serde (configuration files, JSON logs) and the CLI's argument parsing all read it, so the
//! spellings cannot drift apart. Matching is exact (kebab-case, as written in the table).

use thiserror::Error;

/// A string that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} '{given}' (expected one of: {})", expected.join(", "))]
pub struct UnknownName {
    /// What was being named (`enforcement`, `profile`, ...).
    pub kind: &'static str,
    /// The string given.
    pub given: String,
    /// Every accepted name.
    pub expected: &'static [&'static str],
}

/// Declares the wire names of a fieldless enum: `ALL`, `NAMES`, `name()`, `FromStr`,
/// `Display`, `Serialize` and `Deserialize` (an unknown name is serde's "unknown variant"
/// error listing the expected names).
macro_rules! wire_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in table order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// Every wire name, in table order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The wire name (configuration files, JSON, the command line).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::wire::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::wire::UnknownName {
                        kind: $kind,
                        given: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse()
                    .map_err(|_| <D::Error as ::serde::de::Error>::unknown_variant(&s, Self::NAMES))
            }
        }
    };
}

pub(crate) use wire_names;

#[cfg(test)]
mod tests {
    use crate::client_cert::{ClientCertificateMode, RevocationMode};
    use crate::decide::{BindingObservation, Mechanism, Profile, Transport};
    use crate::policy::{PolicyEnforcement, ProtectionScenario, TokenChecking};

    /// Every name parses back to its value, serde agrees with `name()`, and unknown names are
    /// typed errors listing the expected ones.
    macro_rules! check {
        ($ty:ty) => {{
            assert_eq!(<$ty>::ALL.len(), <$ty>::NAMES.len());
            for (v, n) in <$ty>::ALL.iter().zip(<$ty>::NAMES) {
                assert_eq!(v.name(), *n);
                assert_eq!(v.to_string(), *n);
                assert_eq!(n.parse::<$ty>().ok(), Some(*v));
                assert_eq!(serde_json::to_string(v).ok(), Some(format!("\"{n}\"")));
                assert_eq!(
                    serde_json::from_str::<$ty>(&format!("\"{n}\"")).ok(),
                    Some(*v)
                );
            }
            let err = "Bogus".parse::<$ty>().err();
            assert_eq!(err.as_ref().map(|e| e.expected), Some(<$ty>::NAMES));
            let de = serde_json::from_str::<$ty>("\"Bogus\"")
                .err()
                .map(|e| e.to_string());
            assert!(
                de.as_deref()
                    .is_some_and(|e| e.starts_with("unknown variant `Bogus`")),
                "{de:?}"
            );
        }};
    }

    #[test]
    fn every_wire_name_round_trips() {
        check!(PolicyEnforcement);
        check!(ProtectionScenario);
        check!(TokenChecking);
        check!(Profile);
        check!(Transport);
        check!(Mechanism);
        check!(BindingObservation);
        check!(ClientCertificateMode);
        check!(RevocationMode);
    }

    #[test]
    fn the_names_are_the_documented_spellings() {
        assert_eq!(
            PolicyEnforcement::NAMES,
            ["never", "when-supported", "always"]
        );
        assert_eq!(
            ProtectionScenario::NAMES,
            ["transport-selected", "trusted-proxy"]
        );
        assert_eq!(TokenChecking::NAMES, ["none", "allow", "require"]);
        assert_eq!(
            Profile::NAMES,
            ["documented", "dotnet-legacy", "dotnet8", "iis"]
        );
        assert_eq!(
            ClientCertificateMode::NAMES,
            ["ignore", "request", "require"]
        );
        assert_eq!(
            RevocationMode::NAMES,
            ["check", "allow-unknown", "end-entity-only", "off"]
        );
        assert_eq!(
            "dotnet9".parse::<Profile>().err().map(|e| e.to_string()),
            Some(
                "unknown profile 'dotnet9' (expected one of: documented, dotnet-legacy, dotnet8, iis)"
                    .to_owned()
            )
        );
    }
}
