//! Checks a deserialized model: names resolve, the call graph has no cycle and no unreachable
//! component, settings are in range. Each problem names its field path and a hint.

use crate::model::config::{ComponentConfig, Model};
use crate::model::fault::FaultConfig;
use crate::model::workload::Arrivals;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet};

pub struct Problem {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

fn problem(path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem { path: path.into(), message: message.into(), hint: Some(hint.into()) }
}

pub fn validate(m: &Model) -> Result<(), Problem> {
    if m.simulation.duration.is_zero() {
        return Err(problem("simulation.duration", "duration must be positive", "e.g. duration = \"10m\""));
    }
    if m.orgs.is_empty() {
        return Err(problem("org", "at least one [[org]] is required", "add [[org]] with name = \"A\""));
    }
    let mut org_names = BTreeSet::new();
    for (i, o) in m.orgs.iter().enumerate() {
        if !org_names.insert(o.name.as_str()) {
            return Err(problem(format!("org[{i}].name"), format!("org `{}` is defined twice", o.name), "org names must be unique"));
        }
        if o.sessions == 0 {
            return Err(problem(format!("org[{i}].sessions"), "sessions must be at least 1", "use sessions = 1 for one shared session"));
        }
    }
    if m.orgs.len() > u16::MAX as usize - 1 {
        return Err(problem("org", "too many orgs", "at most 65534"));
    }
    if m.components.is_empty() {
        return Err(problem("components", "no components", "define at least [components.NAME] with kind = \"service\""));
    }
    if m.components.len() > u16::MAX as usize - 1 {
        return Err(problem("components", "too many components", "at most 65534"));
    }
    let names: Vec<&str> = m.components.keys().map(|s| s.as_str()).collect();
    let known = names.join(", ");
    let mut graph = DiGraph::<&str, ()>::new();
    let idx: BTreeMap<&str, NodeIndex> = names.iter().map(|n| (*n, graph.add_node(*n))).collect();

    for (name, c) in &m.components {
        let base = format!("components.{name}");
        for (field, u) in c.upstreams() {
            let path = format!("{base}.{field}.target");
            let Some(&t) = idx.get(u.target.as_str()) else {
                return Err(problem(path, format!("unknown component `{}`", u.target), format!("components defined: {known}")));
            };
            if u.target == *name {
                return Err(problem(path, format!("`{name}` calls itself"), "a component's upstream must be another component"));
            }
            graph.add_edge(idx[name.as_str()], t, ());
            u.retry.validate().map_err(|(f, msg)| problem(format!("{base}.{field}.retry.{f}"), msg, "see the retry section of README.md"))?;
            if let Some(t) = u.timeout {
                if t.is_zero() {
                    return Err(problem(format!("{base}.{field}.timeout"), "timeout must be positive", "omit it to wait without a per-try timeout"));
                }
            }
            // What a service's outbound calls must reach.
            if field == "token_endpoint" && m.reached_through_proxies(&u.target, "token-endpoint").is_none() {
                return Err(problem(
                    path,
                    format!("`{}` does not lead to a token endpoint", u.target),
                    "target a component with kind = \"token-endpoint\" (or a proxy in front of one)",
                ));
            }
            if field == "platform_api" && m.reached_through_proxies(&u.target, "platform-api").is_none() {
                return Err(problem(
                    path,
                    format!("`{}` does not lead to a platform API", u.target),
                    "target a component with kind = \"platform-api\" (or a proxy in front of one)",
                ));
            }
        }
        match c {
            ComponentConfig::Edge(e) => {
                if let Some([lo, hi]) = e.deadline_range {
                    if e.deadline < lo || e.deadline > hi {
                        return Err(problem(
                            format!("{base}.deadline"),
                            format!("deadline {} is outside the allowed range {lo}..{hi}", e.deadline),
                            "the Genesys Data Action timeout is 1-60 s (platform SDK docs, ActionConfig)",
                        ));
                    }
                }
                if e.deadline.is_zero() {
                    return Err(problem(format!("{base}.deadline"), "deadline must be positive", "e.g. deadline = \"10s\""));
                }
            }
            ComponentConfig::Service(s) => {
                if s.workers == 0 {
                    return Err(problem(format!("{base}.workers"), "workers must be at least 1", "a service with no worker never answers"));
                }
                if !(0.0..=1.0).contains(&s.failure_rate) {
                    return Err(problem(format!("{base}.failure_rate"), "failure_rate must be between 0 and 1", "e.g. failure_rate = 0.1"));
                }
                if s.platform_api.is_some() && s.token_endpoint.is_none() {
                    return Err(problem(
                        format!("{base}.platform_api"),
                        "a platform API call needs a token: token_endpoint is missing",
                        "add token_endpoint = { target = \"...\" }",
                    ));
                }
            }
            ComponentConfig::TokenEndpoint(t) => {
                for (i, st) in t.validation.iter().enumerate() {
                    for (j, o) in st.orgs.iter().enumerate() {
                        if !org_names.contains(o.as_str()) {
                            return Err(problem(
                                format!("{base}.validation[{i}].orgs[{j}]"),
                                format!("unknown org `{o}`"),
                                format!("orgs defined: {}", org_names.iter().copied().collect::<Vec<_>>().join(", ")),
                            ));
                        }
                    }
                }
                if t.access_token_ttl.is_zero() {
                    // Zero is allowed (refresh on every use) but only without rotation races
                    // being hidden; nothing to check.
                }
            }
            _ => {}
        }
    }

    if m.workload.is_empty() {
        return Err(problem("workload", "no [[workload]]: nothing would call the components", "add [[workload]] with org, target and arrivals"));
    }
    let mut roots = BTreeSet::new();
    for (i, w) in m.workload.iter().enumerate() {
        let base = format!("workload[{i}]");
        if !org_names.contains(w.org.as_str()) {
            return Err(problem(
                format!("{base}.org"),
                format!("unknown org `{}`", w.org),
                format!("orgs defined: {}", org_names.iter().copied().collect::<Vec<_>>().join(", ")),
            ));
        }
        let Some(&t) = idx.get(w.target.as_str()) else {
            return Err(problem(format!("{base}.target"), format!("unknown component `{}`", w.target), format!("components defined: {known}")));
        };
        roots.insert(t);
        w.client.retry.validate().map_err(|(f, msg)| problem(format!("{base}.client.retry.{f}"), msg, "see the retry section of README.md"))?;
        match &w.arrivals {
            Arrivals::Poisson { rate, steps } => {
                if !(rate.is_finite() && *rate >= 0.0) {
                    return Err(problem(format!("{base}.arrivals.rate"), format!("rate {rate} must be a finite number >= 0 (per second)"), "e.g. rate = 5.0"));
                }
                let mut prev = None;
                for (j, st) in steps.iter().enumerate() {
                    if !(st.rate.is_finite() && st.rate >= 0.0) {
                        return Err(problem(format!("{base}.arrivals.steps[{j}].rate"), "rate must be a finite number >= 0", "e.g. rate = 20.0"));
                    }
                    if prev.is_some_and(|p| st.at <= p) {
                        return Err(problem(format!("{base}.arrivals.steps[{j}].at"), "steps must be in increasing time order", "sort the steps by `at`"));
                    }
                    prev = Some(st.at);
                }
            }
            Arrivals::Burst { count, .. } => {
                if *count as u64 > m.limits.max_open_invocations {
                    return Err(problem(
                        format!("{base}.arrivals.count"),
                        format!("a burst of {count} exceeds limits.max_open_invocations"),
                        "raise limits.max_open_invocations or make the burst smaller",
                    ));
                }
            }
            Arrivals::Closed { sessions, .. } => {
                if *sessions == 0 {
                    return Err(problem(format!("{base}.arrivals.sessions"), "sessions must be at least 1", "e.g. sessions = 10"));
                }
            }
            Arrivals::Trace { times, sessions } => {
                let org_sessions = m.orgs.iter().find(|o| o.name == w.org).map_or(1, |o| o.sessions);
                if !sessions.is_empty() && sessions.len() != times.len() {
                    return Err(problem(
                        format!("{base}.arrivals.sessions"),
                        format!("{} sessions for {} times", sessions.len(), times.len()),
                        "give one session per time, or none (all in session 0)",
                    ));
                }
                if let Some(j) = times.windows(2).position(|p| p[1] < p[0]) {
                    return Err(problem(format!("{base}.arrivals.times[{}]", j + 1), "times must not decrease", "sort the recorded arrivals by time"));
                }
                if let Some(j) = sessions.iter().position(|s| *s >= org_sessions) {
                    return Err(problem(
                        format!("{base}.arrivals.sessions[{j}]"),
                        format!("session {} but org `{}` has {org_sessions} sessions (0-based)", sessions[j], w.org),
                        "raise the org's sessions or fix the session index",
                    ));
                }
            }
        }
    }

    if petgraph::algo::is_cyclic_directed(&graph) {
        let sccs = petgraph::algo::tarjan_scc(&graph);
        let cycle = sccs.into_iter().find(|c| c.len() > 1).unwrap_or_default();
        let mut members: Vec<&str> = cycle.iter().map(|n| graph[*n]).collect();
        members.sort();
        return Err(problem(
            format!("components.{}", members.first().copied().unwrap_or("")),
            format!("the call path has a cycle through {}", members.join(" -> ")),
            "a request must flow from the edge towards the service and token endpoint; remove the upstream that points back",
        ));
    }
    // Every component must be reachable from some workload's target.
    let mut reached = BTreeSet::new();
    for r in &roots {
        let mut dfs = petgraph::visit::Dfs::new(&graph, *r);
        while let Some(n) = dfs.next(&graph) {
            reached.insert(n);
        }
    }
    for n in &names {
        if !reached.contains(&idx[n]) {
            return Err(problem(
                format!("components.{n}"),
                format!("component `{n}` is never called"),
                "remove it, or target it from a workload or another component's upstream",
            ));
        }
    }

    for (i, f) in m.faults.iter().enumerate() {
        let base = format!("fault[{i}]");
        match f {
            FaultConfig::Slow { component, start, end, factor } => {
                if !idx.contains_key(component.as_str()) {
                    return Err(problem(format!("{base}.component"), format!("unknown component `{component}`"), format!("components defined: {known}")));
                }
                if start >= end {
                    return Err(problem(format!("{base}.end"), "end must be after start", "a fault window is [start, end)"));
                }
                if !(factor.is_finite() && *factor > 0.0) {
                    return Err(problem(format!("{base}.factor"), "factor must be a positive number", "e.g. factor = 10.0 for ten times slower"));
                }
            }
            FaultConfig::Errors { component, start, end, rate, .. } => {
                if !idx.contains_key(component.as_str()) {
                    return Err(problem(format!("{base}.component"), format!("unknown component `{component}`"), format!("components defined: {known}")));
                }
                if start >= end {
                    return Err(problem(format!("{base}.end"), "end must be after start", "a fault window is [start, end)"));
                }
                if !(0.0..=1.0).contains(rate) {
                    return Err(problem(format!("{base}.rate"), "rate must be between 0 and 1", "e.g. rate = 0.5 fails half the requests"));
                }
            }
            FaultConfig::Capacity { component, start, end, .. } | FaultConfig::Unavailable { component, start, end, .. } => {
                if !idx.contains_key(component.as_str()) {
                    return Err(problem(format!("{base}.component"), format!("unknown component `{component}`"), format!("components defined: {known}")));
                }
                if start >= end {
                    return Err(problem(format!("{base}.end"), "end must be after start", "a fault window is [start, end)"));
                }
            }
            FaultConfig::Partition { from, to, start, end } => {
                if !idx.contains_key(to.as_str()) {
                    return Err(problem(format!("{base}.to"), format!("unknown component `{to}`"), format!("components defined: {known}")));
                }
                let callers_ok = m.components.iter().any(|(n, c)| n == from && c.upstreams().iter().any(|(_, u)| u.target == *to))
                    || m.workload
                        .iter()
                        .enumerate()
                        .any(|(i, w)| w.name.clone().unwrap_or_else(|| format!("workload-{}-{i}", w.org)) == *from && w.target == *to);
                if !callers_ok {
                    return Err(problem(
                        format!("{base}.from"),
                        format!("nothing named `{from}` calls `{to}`"),
                        "name a component whose upstream targets `to`, or a workload by its name (default workload-<org>-<index>)",
                    ));
                }
                if start >= end {
                    return Err(problem(format!("{base}.end"), "end must be after start", "a fault window is [start, end)"));
                }
            }
            FaultConfig::Restart { component, .. } => {
                if !matches!(m.components.get(component), Some(ComponentConfig::Service(_))) {
                    return Err(problem(
                        format!("{base}.component"),
                        format!("`{component}` is not a service"),
                        "restarts apply to components with kind = \"service\"",
                    ));
                }
            }
            FaultConfig::RevokeAuthorization { org, .. } => {
                if !org_names.contains(org.as_str()) {
                    return Err(problem(format!("{base}.org"), format!("unknown org `{org}`"), "use an org defined in [[org]]"));
                }
            }
        }
    }
    Ok(())
}
