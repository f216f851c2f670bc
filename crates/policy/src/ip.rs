//! IP addresses and CIDR blocks for the `IpAddress` condition operators, IPv4 mapped into
//! the 128-bit IPv6 form.

/// An IPv4 or IPv6 network. IPv4 addresses are held as IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: u128,
    /// Prefix length over the 128-bit form.
    prefix: u32,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u32>().ok().filter(|_| l.bytes().all(|b| b.is_ascii_digit()))?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = addr.parse().ok()?;
        let (bits, prefix) = match ip {
            std::net::IpAddr::V4(v4) => {
                let len = len.unwrap_or(32);
                if len > 32 {
                    return None;
                }
                (u128::from(v4.to_ipv6_mapped()), 96 + len)
            }
            std::net::IpAddr::V6(v6) => {
                let len = len.unwrap_or(128);
                if len > 128 {
                    return None;
                }
                (u128::from(v6), len)
            }
        };
        Some(Cidr { addr: bits & mask(prefix), prefix })
    }

    pub(crate) fn contains(&self, ip: u128) -> bool {
        ip & mask(self.prefix) == self.addr
    }
}

fn mask(prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

/// A request's IP address (IPv4, IPv6 or IPv4-mapped IPv6) in the 128-bit form.
pub(crate) fn parse_ip(s: &str) -> Option<u128> {
    match s.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(u128::from(v4.to_ipv6_mapped())),
        std::net::IpAddr::V6(v6) => Some(u128::from(v6)),
    }
}
