//! The status-sync tests on the test world: the scheduled run and the redelivery through the
//! function's worker and the world's in-process queue.
#![allow(dead_code)]

use status_sync::worker::{DrainReport, drain_once, schedule};
pub use test_world::*;

/// A second US company (the seeded GB one needs VAT codes on every line).
pub const OTHER_REALM: &str = "9341453050420201";

pub trait SyncRuns {
    /// One scheduled run: the schedule step, then one SQS-shaped delivery of every job.
    async fn scheduled_run(&self) -> (usize, DrainReport);
    /// Delivers the queued jobs once more (redelivery of failed messages).
    async fn redeliver(&self) -> DrainReport;
}

impl SyncRuns for World {
    async fn scheduled_run(&self) -> (usize, DrainReport) {
        let enqueued = schedule(&self.app, &self.queue)
            .await
            .expect("schedule enqueues");
        (enqueued, self.redeliver().await)
    }

    async fn redeliver(&self) -> DrainReport {
        drain_once(&self.app, &self.queue, 10, self.now()).await
    }
}
