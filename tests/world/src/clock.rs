//! The movable test clock: real time plus an offset a test moves forward. The world hands it to
//! the app (as [`shared::domain::Clock`]) and moves the simulators' clocks with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use shared::domain::Clock;

#[derive(Clone, Debug, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> Self {
        TestClock::default()
    }

    /// The clock the app reads (every copy follows [`Self::advance`]).
    pub fn clock(&self) -> Clock {
        let offset = self.0.clone();
        Clock::new(move || Utc::now() + Duration::seconds(offset.load(Ordering::SeqCst)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.0.load(Ordering::SeqCst))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_copy_of_the_clock_moves_together() {
        let test = TestClock::new();
        let clock = test.clock();
        let before = clock.now();
        test.advance(3600);
        let moved = clock.now() - before;
        assert!(moved >= Duration::seconds(3600) && moved < Duration::seconds(3660));
        assert!((test.now() - clock.now()).num_seconds().abs() < 2);
    }
}
