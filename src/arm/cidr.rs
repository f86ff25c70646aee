//! IPv4 CIDR blocks: parsing, containment and overlap, for checking a subnet against its VNet at plan time.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network such as `10.0.16.0/24`, with no host bits set (ARM refuses those with
/// `InvalidCIDRNotation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    base: u32,
    len: u8,
}

/// Why a string is not a network prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IPv4 CIDR like \"10.0.16.0/24\"")]
    Malformed(String),
    #[error("{given} has host bits set; the network is {network}")]
    HostBits { given: String, network: Ipv4Cidr },
}

impl Ipv4Cidr {
    fn mask(len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }

    fn last(self) -> u32 {
        self.base | !Self::mask(self.len)
    }

    /// Whether every address of `other` lies in `self`.
    /// The prefix length, the `24` of `10.0.0.0/24`.
    pub fn prefix_len(self) -> u8 {
        self.len
    }

    pub fn contains(self, other: Ipv4Cidr) -> bool {
        other.len >= self.len && other.base & Self::mask(self.len) == self.base
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let malformed = || CidrError::Malformed(s.to_string());
        let (addr, len) = s.trim().split_once('/').ok_or_else(malformed)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| malformed())?;
        let len: u8 = len.parse().map_err(|_| malformed())?;
        if len > 32 {
            return Err(malformed());
        }
        let raw = u32::from(addr);
        let network = Ipv4Cidr {
            base: raw & Self::mask(len),
            len,
        };
        if network.base != raw {
            return Err(CidrError::HostBits {
                given: s.to_string(),
                network,
            });
        }
        Ok(network)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn a_vnet_contains_its_subnets_and_not_its_neighbours() {
        let vnet = cidr("10.0.0.0/16");
        assert!(vnet.contains(cidr("10.0.16.0/24")));
        assert!(vnet.contains(vnet));
        assert!(!vnet.contains(cidr("10.1.0.0/24")));
        assert!(!vnet.contains(cidr("10.0.0.0/8")));
        assert!(cidr("0.0.0.0/0").contains(cidr("192.168.1.0/24")));
    }

    #[test]
    fn overlap_is_any_shared_address() {
        let nodes = cidr("10.0.0.0/20");
        assert!(nodes.overlaps(cidr("10.0.15.0/24")));
        assert!(cidr("10.0.15.0/24").overlaps(nodes));
        assert!(!nodes.overlaps(cidr("10.0.16.0/24")));
        assert!(cidr("10.0.0.0/8").overlaps(cidr("10.200.0.0/16")));
    }

    #[test]
    fn host_bits_are_refused_with_the_network_meant() {
        let err = "10.0.16.5/24".parse::<Ipv4Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "10.0.16.5/24 has host bits set; the network is 10.0.16.0/24"
        );
        assert!(matches!(
            "10.0.16.0".parse::<Ipv4Cidr>(),
            Err(CidrError::Malformed(_))
        ));
        assert!(matches!(
            "10.0.16.0/33".parse::<Ipv4Cidr>(),
            Err(CidrError::Malformed(_))
        ));
        assert!(matches!(
            "fd00::/64".parse::<Ipv4Cidr>(),
            Err(CidrError::Malformed(_))
        ));
        assert_eq!(cidr("10.0.16.0/24").to_string(), "10.0.16.0/24");
    }
}
