//! What the rehearsal saw: routes hit, events delivered, invocations, and every failure (an
//! answer API Gateway would not give, a function error, an unrouted request).

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Record {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default, Clone)]
pub struct Inner {
    /// `METHOD /path/template` → requests.
    pub routes: BTreeMap<String, usize>,
    /// Requests no route of the template matched (`METHOD /path`).
    pub unrouted: Vec<String>,
    /// Kind of event (`schedule StatusSyncFunctionSchedule`, `sqs batch`, …) → count.
    pub events: BTreeMap<String, usize>,
    /// Function logical id → invocations.
    pub invocations: BTreeMap<String, usize>,
    /// Things that must not happen on a deploy; any makes the rehearsal fail.
    pub failures: Vec<String>,
}

impl Record {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }

    pub fn route(&self, key: &str) {
        self.with(|i| *i.routes.entry(key.to_string()).or_default() += 1);
    }

    pub fn unrouted(&self, request: &str) {
        self.with(|i| i.unrouted.push(request.to_string()));
    }

    pub fn event(&self, kind: &str, n: usize) {
        self.with(|i| *i.events.entry(kind.to_string()).or_default() += n);
    }

    pub fn invocation(&self, function: &str) {
        self.with(|i| *i.invocations.entry(function.to_string()).or_default() += 1);
    }

    pub fn failure(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("rehearsal: FAILURE {what}");
        self.with(|i| i.failures.push(what));
    }

    pub fn snapshot(&self) -> Inner {
        self.with(|i| i.clone())
    }
}
