//! QuickBooks' limits per company (realm), kept by this instance: at most 10 requests in flight
//! and at most 500 started in any minute (Intuit's "limits and throttles": 500 requests per
//! minute per realm, 10 concurrent requests per realm and app; 429 / fault 3001 beyond). Every
//! call through a [`crate::company::QuickBooksCompany`] handle enters its realm's gate first,
//! so work fanned out inside one invocation — a bulk run's deals, a draft's parallel reads —
//! queues here instead of drawing 429s. A Lambda instance serves one request at a time, so the
//! gate sees all of an invocation's calls; calls of other instances are not seen, and
//! QuickBooks' own 429 (answered as a retryable problem with `Retry-After`) stays the backstop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Duration, Instant};

/// Requests in flight per realm (Intuit: "10 concurrent requests per realm ID and app").
pub const CONCURRENT_PER_REALM: usize = 10;
/// Requests started per realm in any 60 seconds (Intuit: 500 per minute per realm).
pub const PER_MINUTE_PER_REALM: usize = 500;
const WINDOW: Duration = Duration::from_secs(60);
/// Gates kept before idle ones are dropped.
const MAX_GATES: usize = 4096;

/// The gates of every realm this instance called.
#[derive(Debug)]
pub struct QuickBooksLimits {
    concurrent: usize,
    per_minute: usize,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    started: Mutex<VecDeque<Instant>>,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Default for QuickBooksLimits {
    fn default() -> Self {
        QuickBooksLimits::new(CONCURRENT_PER_REALM, PER_MINUTE_PER_REALM)
    }
}

impl QuickBooksLimits {
    pub fn new(concurrent: usize, per_minute: usize) -> Self {
        QuickBooksLimits {
            concurrent: concurrent.max(1),
            per_minute: per_minute.max(1),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self, realm: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if gates.len() > MAX_GATES {
            let concurrent = self.concurrent;
            gates.retain(|_, gate| {
                gate.slots.available_permits() < concurrent
                    || !gate
                        .started
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_empty()
            });
        }
        gates
            .entry(realm.to_string())
            .or_insert_with(|| {
                Arc::new(Gate {
                    slots: Arc::new(Semaphore::new(self.concurrent)),
                    started: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }

    /// Waits for a free slot of `realm` and a start within its per-minute budget.
    pub async fn enter(&self, realm: &str) -> Permit {
        let gate = self.gate(realm);
        // The semaphore is never closed; were it, the request would go without a slot.
        let slot = gate.slots.clone().acquire_owned().await.ok();
        loop {
            let wait_until = {
                let mut started = gate.started.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while started
                    .front()
                    .is_some_and(|at| now.duration_since(*at) >= WINDOW)
                {
                    started.pop_front();
                }
                if started.len() < self.per_minute {
                    started.push_back(now);
                    None
                } else {
                    started.front().map(|oldest| *oldest + WINDOW)
                }
            };
            match wait_until {
                None => return Permit { _slot: slot },
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn at_most_ten_in_flight_per_realm() {
        let limits = Arc::new(QuickBooksLimits::default());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (limits, in_flight, peak) = (limits.clone(), in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    let realm = if i % 2 == 0 { "a" } else { "b" };
                    let _permit = limits.enter(realm).await;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 20, "10 per realm, two realms");
    }

    #[tokio::test(start_paused = true)]
    async fn the_per_minute_budget_delays_instead_of_failing() {
        let limits = QuickBooksLimits::new(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            drop(limits.enter("a").await);
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        drop(limits.enter("a").await);
        assert!(start.elapsed() >= WINDOW, "the fourth waits for the window");
        drop(limits.enter("b").await);
        assert!(
            start.elapsed() < WINDOW + Duration::from_secs(1),
            "other realms do not wait"
        );
    }
}
