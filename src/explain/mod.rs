//! Cascades explained: the consequences of each root cause, from the causal graph a run records
//! (`model::causes`), told in plain words, drawn as Graphviz DOT, and the run's timeline as a
//! Chrome trace-event file for ui.perfetto.dev and chrome://tracing.

pub mod cli;
pub mod perfetto;

use crate::engine::SimTime;
use crate::model::causes::{CauseKind, CauseLog, CauseNode};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CascadeKind {
    /// Ends in a token-family revocation (and the 401s after it).
    Revocation,
    /// Ends in duplicate side effects.
    Duplicate,
}

/// The consequences of one root cause.
#[derive(Clone, Debug)]
pub struct Cascade {
    pub kinds: BTreeSet<CascadeKind>,
    pub root: NodeIndex,
    /// Every node reachable from the root, in time order.
    pub nodes: Vec<NodeIndex>,
    /// Invocations that got 401 because of it, plus duplicate side effects.
    pub invocations_affected: u64,
    pub start: SimTime,
    pub end: SimTime,
    pub orgs: BTreeSet<u16>,
    pub revocations: u64,
    pub duplicates: u64,
    /// From the root cause to the first revocation.
    pub to_first_revocation: Option<f64>,
}

/// Cascade metrics that join the run summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CascadeSummary {
    pub revocation_cascades: u64,
    pub duplicate_cascades: u64,
    pub largest_invocations_affected: u64,
    pub largest_seconds: f64,
    pub largest_orgs: Vec<String>,
    /// Seconds from the root cause of the first revocation to that revocation.
    pub first_fault_to_first_revocation_s: Option<f64>,
    /// The causal graph hit `limits.max_cause_nodes`: later events were not recorded.
    pub causes_truncated: bool,
}

/// Finds the cascades in a causal graph: for each root (a node nothing caused), the nodes it led
/// to, kept when they include a revocation or a duplicate side effect. Largest first.
pub fn cascades(log: &CauseLog) -> Vec<Cascade> {
    let g = &log.graph;
    let mut out = vec![];
    for root in g.node_indices() {
        if g.neighbors_directed(root, Direction::Incoming).next().is_some() {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([root]);
        while let Some(n) = queue.pop_front() {
            if seen.insert(n) {
                queue.extend(g.neighbors_directed(n, Direction::Outgoing));
            }
        }
        let mut c = Cascade {
            kinds: BTreeSet::new(),
            root,
            nodes: seen.iter().copied().collect(),
            invocations_affected: 0,
            start: g[root].time,
            end: g[root].time,
            orgs: BTreeSet::new(),
            revocations: 0,
            duplicates: 0,
            to_first_revocation: None,
        };
        for &n in &c.nodes {
            let w = &g[n];
            c.end = c.end.max(w.until);
            c.start = c.start.min(w.time);
            if let Some(o) = w.org {
                c.orgs.insert(o);
            }
            match w.kind {
                CauseKind::FamilyRevoked => {
                    c.kinds.insert(CascadeKind::Revocation);
                    c.revocations += 1;
                    let d = w.time.since(g[root].time).as_secs_f64();
                    c.to_first_revocation = Some(c.to_first_revocation.map_or(d, |x: f64| x.min(d)));
                }
                CauseKind::Unauthorized => c.invocations_affected += w.count,
                CauseKind::DuplicateSideEffect => {
                    c.kinds.insert(CascadeKind::Duplicate);
                    c.duplicates += w.count;
                    c.invocations_affected += w.count;
                }
                _ => {}
            }
        }
        if !c.kinds.is_empty() {
            c.nodes.sort_by_key(|n| (g[*n].time, n.index()));
            out.push(c);
        }
    }
    out.sort_by(|a, b| b.invocations_affected.cmp(&a.invocations_affected).then(b.revocations.cmp(&a.revocations)).then(a.start.cmp(&b.start)));
    out
}

pub fn summarize(log: &CauseLog, org_names: &[String]) -> CascadeSummary {
    let cs = cascades(log);
    let mut s = CascadeSummary { causes_truncated: log.truncated, ..Default::default() };
    for c in &cs {
        if c.kinds.contains(&CascadeKind::Revocation) {
            s.revocation_cascades += 1;
        }
        if c.kinds.contains(&CascadeKind::Duplicate) {
            s.duplicate_cascades += 1;
        }
    }
    if let Some(c) = cs.first() {
        s.largest_invocations_affected = c.invocations_affected;
        s.largest_seconds = c.end.since(c.start).as_secs_f64();
        s.largest_orgs = c.orgs.iter().map(|o| org_names.get(*o as usize).cloned().unwrap_or_default()).collect();
    }
    // The first revocation of the run, and how long after its root cause it came.
    let first = cs
        .iter()
        .filter_map(|c| {
            let rev = c.nodes.iter().find(|n| log.graph[**n].kind == CauseKind::FamilyRevoked)?;
            Some((log.graph[*rev].time, c.to_first_revocation?))
        })
        .min_by_key(|(t, _)| *t);
    s.first_fault_to_first_revocation_s = first.map(|(_, d)| d);
    s
}

fn describe(log: &CauseLog, n: &CauseNode, org_names: &[String]) -> String {
    let org = n.org.and_then(|o| org_names.get(o as usize)).map(|o| format!(" [org {o}]")).unwrap_or_default();
    match n.kind {
        CauseKind::Unauthorized => format!(
            "{} invocation(s) of org {} answered 401 from {} to {}",
            n.count,
            n.org.and_then(|o| org_names.get(o as usize)).cloned().unwrap_or_default(),
            fmt_t(n.time),
            fmt_t(n.until)
        ),
        CauseKind::DuplicateSideEffect if n.count > 1 => format!("{} ({} times){org}", log.describe(n), n.count),
        _ => format!("{}{org}", log.describe(n)),
    }
}

fn fmt_t(t: SimTime) -> String {
    format!("{:.1}s", t.as_secs_f64())
}

fn label(kind: &CauseKind) -> &'static str {
    match kind {
        CauseKind::Fault => "fault",
        CauseKind::Timeout => "timeout",
        CauseKind::Retry => "retry",
        CauseKind::LostRotation => "lost rotation",
        CauseKind::ConcurrentRefresh => "concurrent refresh",
        CauseKind::ReuseDetected => "reuse detected",
        CauseKind::FamilyRevoked => "family revoked",
        CauseKind::Unauthorized => "401s",
        CauseKind::ManualReauth => "manual re-auth",
        CauseKind::DuplicateSideEffect => "duplicate",
    }
}

/// The cascades in plain words, root cause first, largest first (at most `top`; similar small
/// cascades beyond it are counted).
pub fn to_text(log: &CauseLog, org_names: &[String], top: usize) -> String {
    let cs = cascades(log);
    let mut o = String::new();
    if cs.is_empty() {
        let _ = writeln!(o, "no cascade: no revocation and no duplicate side effect has a recorded cause");
        if log.truncated {
            let _ = writeln!(o, "(the causal graph was truncated at limits.max_cause_nodes)");
        }
        return o;
    }
    let _ = writeln!(o, "{} cascade(s), largest first", cs.len());
    for (i, c) in cs.iter().take(top).enumerate() {
        let kinds: Vec<&str> = c.kinds.iter().map(|k| if *k == CascadeKind::Revocation { "revocation" } else { "duplicate processing" }).collect();
        let orgs: Vec<String> = c.orgs.iter().map(|o| org_names.get(*o as usize).cloned().unwrap_or_default()).collect();
        let _ = writeln!(
            o,
            "\ncascade {} ({}): {} invocation(s) affected over {:.1} s, orgs {}",
            i + 1,
            kinds.join(" + "),
            c.invocations_affected,
            c.end.since(c.start).as_secs_f64(),
            orgs.join(", ")
        );
        let g = &log.graph;
        let depth = depths(g, c.root);
        for &n in &c.nodes {
            let w = &g[n];
            let d = depth.get(&n).copied().unwrap_or(0);
            let lead = if n == c.root { "root cause".to_string() } else { format!("{}-> ", "   ".repeat(d.saturating_sub(1))) };
            let _ = writeln!(o, "  {:>9}  {:<18} {}{}", fmt_t(w.time), label(&w.kind), if n == c.root { "" } else { &lead }, describe(log, w, org_names));
        }
        if let Some(d) = c.to_first_revocation {
            let _ = writeln!(o, "  time from the root cause to the revocation: {d:.1} s");
        }
    }
    if cs.len() > top {
        let rest = &cs[top..];
        let _ = writeln!(
            o,
            "\n... and {} smaller cascade(s) affecting {} invocation(s) in all",
            rest.len(),
            rest.iter().map(|c| c.invocations_affected).sum::<u64>()
        );
    }
    if log.truncated {
        let _ = writeln!(o, "\n(the causal graph was truncated at limits.max_cause_nodes; later events are missing)");
    }
    o
}

fn depths(g: &DiGraph<CauseNode, ()>, root: NodeIndex) -> std::collections::BTreeMap<NodeIndex, usize> {
    let mut d = std::collections::BTreeMap::new();
    let mut q = VecDeque::from([(root, 0usize)]);
    while let Some((n, k)) = q.pop_front() {
        if d.contains_key(&n) {
            continue;
        }
        d.insert(n, k);
        for e in g.edges_directed(n, Direction::Outgoing) {
            q.push_back((e.target(), k + 1));
        }
    }
    d
}

/// The causal graph of the cascades (at most `top`) in Graphviz DOT.
pub fn to_dot(log: &CauseLog, org_names: &[String], top: usize) -> String {
    let cs = cascades(log);
    let keep: BTreeSet<NodeIndex> = cs.iter().take(top).flat_map(|c| c.nodes.iter().copied()).collect();
    let mut g: DiGraph<String, String> = DiGraph::new();
    let mut map = std::collections::BTreeMap::new();
    for &n in &keep {
        let w = &log.graph[n];
        let text = format!("{} at {}\n{}", label(&w.kind), fmt_t(w.time), wrap(&describe(log, w, org_names), 48));
        map.insert(n, g.add_node(text));
    }
    for e in log.graph.edge_references() {
        if let (Some(a), Some(b)) = (map.get(&e.source()), map.get(&e.target())) {
            g.add_edge(*a, *b, String::new());
        }
    }
    let dot = petgraph::dot::Dot::with_attr_getters(&g, &[petgraph::dot::Config::EdgeNoLabel], &|_, _| String::new(), &|_, _| "shape=box".to_string());
    format!("{dot}")
}

fn wrap(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in s.split(' ') {
        if line + word.len() > width && line > 0 {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}
