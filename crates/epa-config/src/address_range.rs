//! An address or an address range (CIDR) in the file: `"10.0.0.5"`, `"10.1.0.0/16"`,
//! `"2001:db8::/32"` — the spelling of nginx `set_real_ip_from` and HAProxy `accept-proxy`
//! source lists. IPv4-mapped IPv6 peers (`::ffff:10.0.0.5`) match their IPv4 range.

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::IpAddr;
use std::str::FromStr;
use thiserror::Error;

/// One address (a host range: /32 or /128) or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange(IpNet);

/// Text that is neither an address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is neither an IP address nor a CIDR range (e.g. \"10.0.0.5\", \"10.1.0.0/16\")")]
pub struct AddressRangeError {
    /// The text given (the file's, shown as `{:?}` so that control characters are escaped).
    pub text: String,
    /// Why the range form was refused.
    #[source]
    pub source: ipnet::AddrParseError,
}

impl AddressRange {
    /// The range as `ipnet` holds it (host bits cleared).
    pub fn net(&self) -> IpNet {
        self.0
    }

    /// Whether `ip` (IPv4-mapped IPv6 folded to IPv4) is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }

    /// How many leading bits are fixed (32 or 128 for one address).
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether the range is a single address.
    pub fn is_single(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }
}

impl From<IpAddr> for AddressRange {
    fn from(ip: IpAddr) -> Self {
        Self(IpNet::from(ip.to_canonical()))
    }
}

impl FromStr for AddressRange {
    type Err = AddressRangeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(ip.into());
        }
        match text.parse::<IpNet>() {
            // `10.1.2.3/16` means the /16 (nginx and HAProxy read it so too).
            Ok(net) => Ok(Self(match net {
                IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                    // `::ffff:10.0.0.0/104` is the IPv4 range 10.0.0.0/8.
                    Some(v4) if v6.prefix_len() >= 96 => {
                        IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
                            .unwrap_or(net)
                            .trunc()
                    }
                    _ => net.trunc(),
                },
                IpNet::V4(_) => net.trunc(),
            })),
            Err(source) => Err(AddressRangeError {
                text: text.to_owned(),
                source,
            }),
        }
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for AddressRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for AddressRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> AddressRange {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_and_ranges_parse_and_match() {
        assert!(r("10.0.0.5").contains("10.0.0.5".parse().unwrap()));
        assert!(!r("10.0.0.5").contains("10.0.0.6".parse().unwrap()));
        assert!(r("10.0.0.5").is_single());
        assert!(r("10.1.0.0/16").contains("10.1.200.3".parse().unwrap()));
        assert!(!r("10.1.0.0/16").contains("10.2.0.1".parse().unwrap()));
        // Host bits are cleared, as nginx reads `set_real_ip_from 10.1.2.3/16`.
        assert_eq!(r("10.1.2.3/16"), r("10.1.0.0/16"));
        assert!(r("2001:db8::/32").contains("2001:db8::1".parse().unwrap()));
        // An IPv4-mapped peer matches the IPv4 range, and a mapped range is the IPv4 one.
        assert!(r("10.0.0.0/8").contains("::ffff:10.9.9.9".parse().unwrap()));
        assert_eq!(r("::ffff:10.0.0.0/104"), r("10.0.0.0/8"));
        assert_eq!(r("::ffff:10.0.0.5"), r("10.0.0.5"));
        assert_eq!(r("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(r("10.0.0.5").to_string(), "10.0.0.5");
        assert_eq!(r("10.1.0.0/16").to_string(), "10.1.0.0/16");
    }

    #[test]
    fn bad_text_is_a_typed_error_with_the_text_escaped() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "example.com",
            "10.0.0.1/8/8",
            "a\nb",
        ] {
            let e = bad.parse::<AddressRange>().unwrap_err();
            assert_eq!(e.text, bad);
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
