//! What a rehearsal prints: functions started, routes hit, events delivered, actions used per
//! function, unused grants (reviewed ones with their reasons), and every failure.

use std::fmt::Write;

use crate::iam;
use crate::run::Outcome;

pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    let Some(wiring) = &outcome.wiring else {
        let _ = writeln!(out, "(the stack was not deployed)");
        return failures(out, outcome);
    };
    let r = &outcome.record;
    let started: Vec<String> = outcome
        .cold_starts
        .iter()
        .map(|(f, n)| {
            format!(
                "{f} ({n} instance{}, {} invocations)",
                if *n == 1 { "" } else { "s" },
                r.invocations.get(f).copied().unwrap_or(0)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "functions started   {} of {}: {}",
        outcome.cold_starts.values().filter(|n| **n > 0).count(),
        wiring.functions.len(),
        started.join(", ")
    );
    let hit = wiring
        .routes
        .iter()
        .filter(|route| r.routes.contains_key(&route.key()))
        .count();
    let _ = writeln!(
        out,
        "routes hit          {hit} of {} ({} requests)",
        wiring.routes.len(),
        r.routes.values().sum::<usize>()
    );
    for route in &wiring.routes {
        let _ = writeln!(
            out,
            "  {:>3}× {:<52} → {}",
            r.routes.get(&route.key()).copied().unwrap_or(0),
            route.key(),
            route.function
        );
    }
    let events: Vec<String> = r.events.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let _ = writeln!(out, "events delivered    {}", events.join("; "));
    let _ = writeln!(out, "actions used (IAM decisions moto allowed, per role)");
    for (role, actions) in &outcome.accounting.used {
        if actions.is_empty() {
            continue;
        }
        let list: Vec<String> = actions.iter().map(|(a, n)| format!("{a}×{n}")).collect();
        let _ = writeln!(out, "  {:<28} {}", iam::who(wiring, role), list.join(", "));
    }
    let _ = writeln!(
        out,
        "unused grants       {} reviewed (infra/rehearsal/unused-grants.json), {} unlisted",
        outcome.accounting.reviewed_unused.len(),
        outcome.accounting.failures.len()
    );
    for (grant, reason) in &outcome.accounting.reviewed_unused {
        let _ = writeln!(
            out,
            "  {} {} on {} ({}): {reason}",
            iam::who(wiring, &grant.role),
            grant.action,
            grant.resource,
            grant.policy
        );
    }
    failures(out, outcome)
}

fn failures(mut out: String, outcome: &Outcome) -> String {
    if outcome.failures.is_empty() {
        let _ = writeln!(out, "failures            none");
    } else {
        let _ = writeln!(out, "failures            {}", outcome.failures.len());
        for f in &outcome.failures {
            let _ = writeln!(out, "  - {f}");
        }
    }
    out
}
