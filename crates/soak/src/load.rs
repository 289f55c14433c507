//! The steady load: callbacks and chats with distinct Leadback ids at a fixed rate, each POST in
//! its own task (bounded) so a slow answer does not slow the stream down.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// Most POSTs in flight at once; beyond it the stream waits (and the achieved rate shows it).
const MAX_IN_FLIGHT: usize = 512;

/// What the load saw.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// The bridge's event ids answered `200 accepted`.
    pub accepted: HashSet<String>,
    /// The event ids the bridge would give every event sent (`<kind>:<id>`).
    pub sent_ids: Vec<String>,
    /// Other answers by status; 0 = no answer.
    pub refused: BTreeMap<u16, u64>,
}

pub struct Load {
    stats: Arc<Mutex<LoadStats>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// Leadback writes naive times in the account's zone (Moscow here); a minute in the past so
/// CoMagic never sees a time from the future.
fn moscow_now() -> String {
    // Moscow is UTC+3 all year.
    (Utc::now() + chrono::Duration::hours(3) - chrono::Duration::seconds(60))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The n-th event's body and the bridge's event id for it.
fn event(run: &str, n: u64) -> (String, Value) {
    let id = format!("soak-{run}-{n:08}");
    let phone = format!(
        "+7 916 {:03}-{:02}-{:02}",
        n % 1000,
        (n / 1000) % 100,
        n % 97
    );
    let when = moscow_now();
    if n.is_multiple_of(5) {
        let body = json!({
            "event": "chat",
            "chat_id": id,
            "date_create": when,
            "visitor": {"name": "Soak visitor", "phone": phone},
            "page_url": "https://shop.example.ru/delivery?utm_source=vk&utm_medium=social",
            "messages": [
                {"from": "visitor", "date": when, "text": "Здравствуйте! Доставляете в Химки?"},
                {"from": "operator", "date": when, "text": "Да, 1–2 дня.", "operator_name": "Анна"}
            ]
        });
        (format!("chat:{id}"), body)
    } else {
        let body = json!({
            "event": "callback",
            "id_call": id,
            "date_create": when,
            "callback_phone": phone,
            "name": "Soak caller",
            "status": "success",
            "duration": 42,
            "page_url": "https://shop.example.ru/catalog?utm_source=yandex&utm_medium=cpc",
            "ip": "93.184.216.34"
        });
        (format!("callback:{id}"), body)
    }
}

impl Load {
    pub fn start(url: String, run: String, rate: u32) -> Load {
        let stats = Arc::new(Mutex::new(LoadStats::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (stats, stop) = (stats.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .build()
                    .unwrap_or_default();
                let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
                let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
                let mut ticker = tokio::time::interval(period);
                // Burst (the default): ticks missed under a busy CPU are caught up, so the
                // average rate is the one asked for.
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    ticker.tick().await;
                    n += 1;
                    let (event_id, body) = event(&run, n);
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    if let Ok(mut s) = stats.lock() {
                        s.sent_ids.push(event_id.clone());
                    }
                    let (http, url, stats) = (http.clone(), url.clone(), stats.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
                        let status = match http.post(&url).json(&body).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let answer: Value = r.json().await.unwrap_or(Value::Null);
                                if status == 200 && answer["status"] == "accepted" {
                                    let id = answer["event_id"].as_str().unwrap_or_default();
                                    if let Ok(mut s) = stats.lock() {
                                        s.accepted.insert(id.to_owned());
                                    }
                                    return;
                                }
                                status
                            }
                            Err(_) => 0,
                        };
                        if let Ok(mut s) = stats.lock() {
                            *s.refused.entry(status).or_default() += 1;
                        }
                    });
                }
                // Wait for the POSTs still in flight.
                let _ = permits.acquire_many(MAX_IN_FLIGHT as u32).await;
            })
        };
        Load { stats, stop, task }
    }

    pub fn accepted_count(&self) -> usize {
        self.stats.lock().map(|s| s.accepted.len()).unwrap_or(0)
    }

    /// Stops sending, waits for the answers still due and returns what the load saw.
    pub async fn finish(self) -> LoadStats {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        match Arc::try_unwrap(self.stats) {
            Ok(stats) => stats.into_inner().unwrap_or_default(),
            Err(shared) => shared
                .lock()
                .map(|s| LoadStats {
                    accepted: s.accepted.clone(),
                    sent_ids: s.sent_ids.clone(),
                    refused: s.refused.clone(),
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fifth_event_is_a_chat_with_its_own_id() {
        let (id, body) = event("r", 5);
        assert_eq!(id, "chat:soak-r-00000005");
        assert_eq!(body["chat_id"], "soak-r-00000005");
        let (id, body) = event("r", 6);
        assert_eq!(id, "callback:soak-r-00000006");
        assert_eq!(body["id_call"], "soak-r-00000006");
    }
}
