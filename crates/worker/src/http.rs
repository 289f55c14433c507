//! The worker's HTTP client for the CoMagic Data API: one pool of keep-alive connections for
//! every tenant (they all talk to one or two hosts), with a bound on the idle connections kept.
//! The outbound rules (no redirects, answer cap, address policy) come with
//! [`comagic_client::Transport`].

use std::time::Duration;

use comagic_client::{AddressPolicy, Transport, TransportOptions};

/// Idle connections kept per host. Without a bound the pool keeps every connection a burst of
/// concurrent calls opened (a batch's tag calls, say, up to the prefetch): busy connections are
/// reused in turn, so none ever sits idle long enough to time out, and each burst after a slow
/// moment grew the pool — and the process's descriptors and buffers — for good (seen in the
/// 10-minute soaks: open descriptors and RSS stepped up together and never came back down).
/// One batch's worth of concurrent calls stays warm; calls beyond it in a burst open
/// connections that close once the burst is over.
pub(crate) const IDLE_CONNECTIONS_PER_HOST: usize = 64;
/// An idle connection is closed after this long (CoMagic's side may drop it earlier anyway).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The client every CoMagic call of this worker goes through (each call carries its own
/// timeout, [`comagic_client::ClientOptions::timeout`]).
pub(crate) fn comagic_http(policy: AddressPolicy) -> Transport {
    let options = TransportOptions {
        policy,
        idle_per_host: IDLE_CONNECTIONS_PER_HOST,
        idle_timeout: IDLE_TIMEOUT,
    };
    // Building fails only when the TLS backend cannot start; the defaults are the fallback.
    Transport::new(&options).unwrap_or_else(|error| {
        tracing::error!(%error, "HTTP client with the pool bounds failed; using the defaults");
        // No configuration left to fail on: without a client there is no worker.
        #[allow(clippy::expect_used)]
        Transport::with_policy(policy).expect("the default HTTP client builds")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A keep-alive HTTP/1.1 server that answers every request after `delay` and counts the
    /// connections open right now.
    async fn counting_server(delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let open = counter.clone();
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                        // Requests without a body: one per blank line.
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            tokio::time::sleep(delay).await;
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(answer).await.is_err() {
                                break;
                            }
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        (url, open)
    }

    #[tokio::test]
    async fn a_burst_leaves_at_most_the_idle_bound_open() {
        let (url, open) = counting_server(Duration::from_millis(200)).await;
        let http = comagic_http(AddressPolicy::ALLOW_PRIVATE).http().clone();
        // Three times the bound at once: each needs its own connection.
        let burst = IDLE_CONNECTIONS_PER_HOST * 3;
        let calls: Vec<_> = (0..burst)
            .map(|_| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move { http.get(&url).send().await.unwrap().text().await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), "ok");
        }
        let peak = open.load(Ordering::SeqCst);
        assert!(peak > IDLE_CONNECTIONS_PER_HOST, "the burst opened {peak}");
        // Once the burst is over the pool keeps only the bound; the rest are closed.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while open.load(Ordering::SeqCst) > IDLE_CONNECTIONS_PER_HOST {
            assert!(
                std::time::Instant::now() < deadline,
                "{} connections still open after the burst",
                open.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The kept ones are reused: a call after the burst opens none.
        let before = open.load(Ordering::SeqCst);
        assert_eq!(
            http.get(&url).send().await.unwrap().text().await.unwrap(),
            "ok"
        );
        assert_eq!(open.load(Ordering::SeqCst), before);
    }
}
