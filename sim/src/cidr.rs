//! IPv4 prefixes: parsing as Azure checks them, containment, overlap, and address arithmetic.

use crate::error::ArmError;
use std::net::Ipv4Addr;

/// An IPv4 prefix such as 10.0.0.0/20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub base: u32,
    pub len: u8,
}

impl Prefix {
    /// Parses a prefix, refusing host bits the way the Network RP does (`InvalidCIDRNotation`).
    pub fn parse(text: &str, owner: &str) -> Result<Self, ArmError> {
        let invalid = |hint: String| {
            ArmError::bad_request(
                "InvalidCIDRNotation",
                format!("The address prefix {text} in resource {owner} has an invalid CIDR notation.{hint}"),
            )
        };
        let (addr, len) = text.split_once('/').ok_or_else(|| invalid(String::new()))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid(String::new()))?;
        let len: u8 = len.parse().map_err(|_| invalid(String::new()))?;
        if len > 32 {
            return Err(invalid(String::new()));
        }
        let p = Prefix {
            base: u32::from(addr),
            len,
        };
        if p.base & !p.mask() != 0 {
            let aligned = Prefix {
                base: p.base & p.mask(),
                len,
            };
            return Err(invalid(format!(
                " For the given prefix length, the address prefix should be {aligned}."
            )));
        }
        Ok(p)
    }

    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// Number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    pub fn last(&self) -> u32 {
        self.base | !self.mask()
    }

    pub fn contains_prefix(&self, inner: &Prefix) -> bool {
        inner.len >= self.len && inner.base & self.mask() == self.base
    }

    pub fn contains(&self, addr: u32) -> bool {
        addr & self.mask() == self.base
    }

    pub fn overlaps(&self, other: &Prefix) -> bool {
        self.contains_prefix(other) || other.contains_prefix(self)
    }

    /// The address at `offset` from the base.
    pub fn nth(&self, offset: u32) -> u32 {
        self.base.wrapping_add(offset)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

/// Formats an address.
pub fn format_ip(addr: u32) -> String {
    Ipv4Addr::from(addr).to_string()
}

/// Parses an address.
pub fn parse_ip(text: &str) -> Option<u32> {
    text.parse::<Ipv4Addr>().ok().map(u32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_refused_with_the_aligned_prefix() {
        let e = Prefix::parse("10.0.0.1/24", "s").unwrap_err();
        assert_eq!(e.code, "InvalidCIDRNotation");
        assert!(e.message.contains("10.0.0.0/24"));
        assert!(Prefix::parse("10.0.0.0/33", "s").is_err());
        assert!(Prefix::parse("banana", "s").is_err());
    }

    #[test]
    fn containment_and_overlap() {
        let vnet = Prefix::parse("10.0.0.0/16", "v").expect("valid");
        let a = Prefix::parse("10.0.0.0/20", "a").expect("valid");
        let b = Prefix::parse("10.0.8.0/24", "b").expect("valid");
        let c = Prefix::parse("10.1.0.0/24", "c").expect("valid");
        assert!(vnet.contains_prefix(&a));
        assert!(!vnet.contains_prefix(&c));
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
        assert_eq!(a.size(), 4096);
        assert_eq!(format_ip(a.last()), "10.0.15.255");
    }
}
