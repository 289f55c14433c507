//! [`Transport`]: the HTTP client every CoMagic call goes through, with the outbound rules
//! built in so no caller can forget them: redirects are never followed (a 307/308 would
//! re-send the body, secret included, to wherever the answer points), an answer larger than
//! [`MAX_ANSWER_BYTES`] is refused, no proxy from the environment is used, and addresses go
//! through the [`AddressPolicy`] — names at connect time, IP literals before sending.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::outbound::{AddressPolicy, OutboundRefused, PolicyResolver};
use crate::ComagicError;

/// The largest CoMagic answer read (a 10,000-item `get.*` page is well under 8 MiB).
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// How the shared HTTP client is built.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    pub policy: AddressPolicy,
    /// Idle keep-alive connections kept per host.
    pub idle_per_host: usize,
    /// An idle connection is closed after this long.
    pub idle_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            policy: AddressPolicy::PUBLIC_ONLY,
            idle_per_host: 64,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A pooled HTTP client bound to an address policy. Cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    policy: AddressPolicy,
}

impl Transport {
    pub fn new(options: &TransportOptions) -> Result<Self, ComagicError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: options.policy,
            }))
            .pool_max_idle_per_host(options.idle_per_host)
            .pool_idle_timeout(options.idle_timeout)
            .build()
            .map_err(|e| ComagicError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            policy: options.policy,
        })
    }

    /// Defaults with the given policy.
    pub fn with_policy(policy: AddressPolicy) -> Result<Self, ComagicError> {
        Self::new(&TransportOptions {
            policy,
            ..TransportOptions::default()
        })
    }

    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// The underlying client: no redirects, the resolver's policy; IP-literal hosts are only
    /// checked by [`Transport::check_url`], which [`crate::ComagicClient`] runs.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Refuses a URL whose host is an IP literal the policy does not allow (names are checked
    /// when they are resolved, on every new connection).
    pub fn check_url(&self, url: &url::Url) -> Result<(), OutboundRefused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        self.policy.check(ip)
    }

    /// Checks `url` as [`Transport::check_url`] does and, for a name, resolves it now and
    /// checks the addresses: what the admin side runs at save time to answer 422.
    pub async fn check_url_now(&self, url: &url::Url) -> Result<(), OutboundRefused> {
        self.check_url(url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        // Unresolvable now: the call itself will say so; only a refused address is an answer.
        let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
            return Ok(());
        };
        let addrs: Vec<_> = addrs.collect();
        if addrs.is_empty() {
            return Ok(());
        }
        match addrs.iter().find(|a| self.policy.permits(a.ip())) {
            Some(_) => Ok(()),
            None => self.policy.check(addrs[0].ip()),
        }
    }
}

/// Reads an answer's body up to [`MAX_ANSWER_BYTES`]: `Ok(None)` when it is larger (decided
/// from Content-Length when there is one, else while reading).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}
