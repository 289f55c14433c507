//! Which addresses a CoMagic call may connect to. A tenant's API URL is typed by an operator,
//! so without a policy it could point the bridge at its own metrics port, a cloud metadata
//! service or anything else on the internal network. Loopback, private, link-local,
//! unique-local, multicast and unspecified addresses are refused unless the deployment allows
//! them (`BRIDGE_ALLOW_PRIVATE_API_URLS`: the emulator, tests, `demo`). The check runs on the
//! addresses a name resolves to, at connect time ([`PolicyResolver`]), so a name that resolves
//! to a public address when saved and to an internal one later (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether the bridge may call CoMagic URLs on internal addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// `true` lets every address through (the emulator on loopback, tests).
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Only public addresses.
    pub const PUBLIC_ONLY: Self = Self {
        allow_private: false,
    };
    /// Every address, for the emulator and tests on loopback.
    pub const ALLOW_PRIVATE: Self = Self {
        allow_private: true,
    };

    pub fn permits(self, ip: IpAddr) -> bool {
        self.allow_private || internal_range(ip).is_none()
    }

    /// `Err` names why `ip` is refused.
    pub fn check(self, ip: IpAddr) -> Result<(), OutboundRefused> {
        match internal_range(ip) {
            Some(range) if !self.allow_private => Err(OutboundRefused { ip, range }),
            _ => Ok(()),
        }
    }
}

/// A connection the address policy did not allow; found again in a transport error's source
/// chain so the call fails as a configuration problem rather than a retryable network one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{ip} is a {range} address; CoMagic API URLs must resolve to public addresses (BRIDGE_ALLOW_PRIVATE_API_URLS=true allows internal ones)")]
pub struct OutboundRefused {
    pub ip: IpAddr,
    pub range: &'static str,
}

/// The kind of internal range `ip` is in, `None` for a public address.
pub fn internal_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        // 100.64.0.0/10, carrier-grade NAT: internal to a provider's network.
        Some("shared (CGNAT)")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d, or the deprecated ::a.b.c.d) reaches
    // the IPv4 host: judge it as one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4);
    }
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.segments()[..6] == [0; 6] {
        // ::a.b.c.d (IPv4-compatible, deprecated)
        v4_range(Ipv4Addr::from(
            (u32::from(ip.segments()[6]) << 16) | u32::from(ip.segments()[7]),
        ))
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// The system resolver, with every address the policy refuses removed from the answer. A
/// name left with no address fails to connect with [`OutboundRefused`] in the error chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyResolver {
    pub policy: AddressPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(refused)) => Err(Box::new(refused) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses are only classified here, never connected to.
    const REFUSED: &[(&str, &str)] = &[
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.255", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
    ];

    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "93.158.134.3",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "192.169.0.1",
        "169.253.0.1",
        "2a00:1450:4010::1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
    ];

    #[test]
    fn internal_addresses_are_refused_by_default() {
        for (text, range) in REFUSED {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(internal_range(ip), Some(*range), "{text}");
            let refused = AddressPolicy::PUBLIC_ONLY.check(ip).unwrap_err();
            assert!(refused.to_string().contains(range), "{refused}");
            assert!(AddressPolicy::ALLOW_PRIVATE.permits(ip), "{text}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for text in PUBLIC {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(internal_range(ip), None, "{text}");
            assert!(AddressPolicy::PUBLIC_ONLY.permits(ip), "{text}");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        // `localhost` resolves to loopback only (no traffic is sent: resolution alone).
        let name: Name = "localhost".parse().unwrap();
        let refused = PolicyResolver {
            policy: AddressPolicy::PUBLIC_ONLY,
        }
        .resolve(name)
        .await;
        let error = refused.err().expect("loopback must be refused");
        assert!(error.downcast_ref::<OutboundRefused>().is_some(), "{error}");
        let name: Name = "localhost".parse().unwrap();
        let allowed = PolicyResolver {
            policy: AddressPolicy::ALLOW_PRIVATE,
        }
        .resolve(name)
        .await
        .unwrap();
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }
}
