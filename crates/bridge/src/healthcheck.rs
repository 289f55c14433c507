//! `leadback-bridge healthcheck`: asks the bridge on this host whether it is ready, for a
//! container `HEALTHCHECK` (the image has no curl). Exit 0 when `/readyz` answers 200, 1 when it
//! answers anything else or nothing at all.

use anyhow::{bail, Context};
use clap::Args;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The bridge's public listener (the same BRIDGE_LISTEN as `serve`); an unspecified address
    /// (0.0.0.0, [::]) is asked on the loopback.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

impl HealthcheckArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let url = readyz_url(self.listen);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.timeout_secs.max(1)))
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        let response = http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("{url} does not answer"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK {
            bail!("{url} answered {status}: {}", body.trim());
        }
        println!("{}", body.trim());
        Ok(())
    }
}

/// `http://<listen>/readyz`, with an unspecified address replaced by the loopback of its family.
fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::readyz_url;

    #[test]
    fn unspecified_listen_addresses_are_asked_on_the_loopback() {
        for (listen, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/readyz"),
            ("[::]:8081", "http://[::1]:8081/readyz"),
            ("127.0.0.1:9000", "http://127.0.0.1:9000/readyz"),
            ("[::1]:80", "http://[::1]:80/readyz"),
        ] {
            assert_eq!(readyz_url(listen.parse().unwrap()), url);
        }
    }
}
