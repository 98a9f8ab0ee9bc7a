//! A self-contained HTML timeline of a recorded run.
//!
//! One lane per node (ZooKeeper role, Kafka controller and partition leadership, faults as
//! shaded spans) and one per client process (operations as bars coloured by outcome, with
//! tooltips), checker violations marked, and small inline-SVG charts. Everything is inline:
//! the page fetches nothing, so a report folder can be mailed or archived as is. Like
//! Porcupine's report pages, the verdicts come first: a panel with each checker's verdict
//! and what it judged, then the violations, each linked to its place in the timeline.
//!
//! Operations have three colours, because a healthy system says "no" all the time: green
//! for ok; blue for a definite error, an answer from the system that the operation did not
//! happen (NoNode, NodeExists, BadVersion, NotEmpty, Kafka's definite rejections such as
//! FENCED_LEADER_EPOCH): working as designed; grey for unavailable or unknown, no answer
//! (timeouts, connection loss, no leader) or an outcome that may or may not have happened
//! (`info`). Red is kept for violations only.

use super::names::{fmt_session, fmt_span, fmt_zxid, run_end, trailing_number, Names};
use super::narrate::{describe, describe_call, describe_ret, is_unavailable};
use crate::check::{CheckReport, Verdict};
use crate::history::event::SyncMode;
use crate::history::{Event, History, KafkaEvent, Op, Outcome, Ret, ZkEvent, ZkRole};
use crate::history::{SimEvent, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Above this many operations, client lanes show per-interval aggregates instead of one bar
/// per operation (highlighted operations are always drawn individually), and the page says so.
pub const OP_BARS_MAX: usize = 2000;
/// Number of time buckets per client lane when operations are aggregated.
const AGG_BUCKETS: usize = 200;
/// At most this many event ticks are drawn on node lanes; the page says when more existed.
const EVENT_TICKS_MAX: usize = 3000;
/// At most this many partitions get an ISR-size series.
const ISR_SERIES_MAX: usize = 12;
/// At most this many notes per checker in the checker panel.
const CHECKER_NOTES_MAX: usize = 20;
/// The checker panel shows at most this many characters of a first violation's label (the
/// violation list below has it whole).
const FIRST_VIOLATION_CHARS_MAX: usize = 160;

/// How an operation ended, as the page colours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpClass {
    /// It happened (`ok`): green, CSS class `ok`.
    Ok,
    /// The system answered that it did not happen (`fail` with an application answer such
    /// as NoNode, NodeExists, BadVersion, NotEmpty, or a definite Kafka rejection): blue,
    /// CSS class `definite`.
    Definite,
    /// No answer: a `fail` with an error meaning no server could answer (connection loss,
    /// timeout, no leader) or with no answer at all, or an `info` op whose outcome is
    /// unknown: grey, CSS class `unavailable`.
    Unavailable,
}

impl OpClass {
    /// The class of `op`.
    pub fn of(op: &Op) -> OpClass {
        match op.outcome {
            Outcome::Ok => OpClass::Ok,
            Outcome::Info => OpClass::Unavailable,
            // A failed op without an answer (a fetch that got no response) was not refused
            // by the system: nobody answered.
            Outcome::Fail if is_unavailable(op) || op.ret == Ret::None => OpClass::Unavailable,
            Outcome::Fail => OpClass::Definite,
        }
    }

    /// The CSS class on the op's element.
    pub fn css(self) -> &'static str {
        match self {
            OpClass::Ok => "ok",
            OpClass::Definite => "definite",
            OpClass::Unavailable => "unavailable",
        }
    }

    /// What the colour means, for tooltips and the legend.
    pub fn meaning(self) -> &'static str {
        match self {
            OpClass::Ok => "ok: it happened",
            OpClass::Definite => "definite error: the system answered that it did not happen",
            OpClass::Unavailable => {
                "unavailable or unknown: no answer, or it may or may not have happened"
            }
        }
    }
}

/// Something a checker found, to be marked on the page.
///
/// `ops` are indices into [`History::ops`], `events` indices into [`History::events`]
/// (out-of-range indices are listed as such, never a panic), and `at` an optional instant
/// drawn as a vertical line across the timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Highlight {
    /// The checker that found it ([`CheckReport::checker`]), so that the checker panel can
    /// link to it; `None` if no checker report is shown.
    pub checker: Option<String>,
    /// What was violated, in a sentence (shown verbatim, escaped).
    pub label: String,
    /// Operations involved.
    pub ops: Vec<usize>,
    /// Events involved.
    pub events: Vec<usize>,
    /// The instant of the violation, if it has one.
    pub at: Option<SimTime>,
}

/// Renders `history` as one HTML page titled `title`, marking `highlights`, without a
/// checker panel: [`render_run_html`] with no checker reports.
pub fn render_html(history: &History, title: &str, highlights: &[Highlight]) -> String {
    render_run_html(history, title, &[], highlights)
}

/// Renders a run, `history` judged by `checks`, as one HTML page titled `title`, marking
/// `highlights`.
///
/// Guarantees: deterministic; self-contained (no `http://`/`https://` reference, no external
/// script, style or font); every text from the history is HTML-escaped; each lane is an
/// element `class="lane" data-lane="<name>" data-kind="<kind>"` (nodes by name with kind
/// `server`, `broker` or `node`; client processes as `client-<process>` with kind
/// `process`, labelled `client process <process>`; plus `network` when there were network
/// faults); each drawn operation is `class="op <ok|definite|unavailable>..."` by
/// [`OpClass`], and a legend (`id="legend"`) before the timeline says which colour is
/// which. When `checks` is non-empty, a panel `id="checkers"` comes first with one row per
/// checker (`id="checker-<n>"`, from 1): its verdict, what it judged, and for a violation
/// or a breach outside the fault model a link to the first [`Highlight`] naming that
/// checker. When `highlights` is non-empty the page has exactly one element
/// `id="violation" class="violation"` listing them (`id="violation-<k>"`, from 1), and each
/// one is drawn on the timeline (`id="mark-<k>"`, highlighted ops `class="op ... hl"`).
/// Histories of more than [`OP_BARS_MAX`] operations are drawn aggregated, with a visible
/// note (`id="aggregation-note"`). The page's script counts JavaScript errors into
/// `id="js-errors"` and sets `data-js="ok"` on `<body>` once it has run.
pub fn render_run_html(
    history: &History,
    title: &str,
    checks: &[CheckReport],
    highlights: &[Highlight],
) -> String {
    let mut page = Page::new(history);
    page.render(title, checks, highlights)
}

/// HTML-escapes text for element content and attribute values (newlines kept as `&#10;`
/// so that tooltips stay multi-line).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

/// An open network split: since when, its description, and each affected node with its side.
type Split = (SimTime, String, Vec<(String, String)>);

/// A span of time on one lane.
struct Span {
    from: SimTime,
    to: SimTime,
    class: &'static str,
    label: String,
    tip: String,
}

struct Page<'a> {
    h: &'a History,
    names: Names,
    /// ZooKeeper servers: nodes that recorded a role change (every server starts LOOKING).
    /// Clients record ZooKeeper events too (sessions, watches), so recording one does not
    /// make a node a server.
    servers: BTreeSet<String>,
    /// Kafka brokers: nodes that recorded a broker's own event (registration, a controller
    /// election, LeaderAndIsr, log recovery or the end-of-run log); consumers record Kafka
    /// events too.
    brokers: BTreeSet<String>,
    end: SimTime,
    /// Spans per lane name.
    spans: BTreeMap<String, Vec<Span>>,
    /// Established ZooKeeper leaders over time: (from, to, node, epoch).
    zk_leaders: Vec<(SimTime, SimTime, String, u32)>,
    /// Partition state changes: (at, topic/partition, leader, isr).
    part_changes: Vec<(SimTime, String, i64, Vec<u32>)>,
    notes: Vec<String>,
}

impl<'a> Page<'a> {
    fn new(h: &'a History) -> Page<'a> {
        let servers = h
            .events
            .iter()
            .filter(|r| matches!(r.event, Event::Zk(ZkEvent::RoleChanged { .. })))
            .map(|r| r.node.clone())
            .collect();
        let brokers = h
            .events
            .iter()
            .filter(|r| {
                matches!(
                    r.event,
                    Event::Kafka(
                        KafkaEvent::BrokerRegistered { .. }
                            | KafkaEvent::ControllerElected { .. }
                            | KafkaEvent::LeaderAndIsrApplied { .. }
                            | KafkaEvent::LogRecovered { .. }
                            | KafkaEvent::ReplicaLog { .. }
                    )
                )
            })
            .map(|r| r.node.clone())
            .collect();
        let mut p = Page {
            h,
            names: Names::from_history(h),
            servers,
            brokers,
            end: run_end(h),
            spans: BTreeMap::new(),
            zk_leaders: Vec::new(),
            part_changes: Vec::new(),
            notes: Vec::new(),
        };
        p.derive_spans();
        p
    }

    fn x(&self, t: SimTime) -> f64 {
        (t.0 as f64 / self.end.0 as f64 * 100.0).clamp(0.0, 100.0)
    }

    fn pos_style(&self, from: SimTime, to: SimTime) -> String {
        let l = self.x(from);
        let w = (self.x(to) - l).max(0.08);
        format!("left:{l:.3}%;width:{w:.3}%")
    }

    fn push(&mut self, lane: &str, span: Span) {
        self.spans.entry(lane.to_string()).or_default().push(span);
    }

    /// Walks the events once, turning state changes into spans.
    fn derive_spans(&mut self) {
        let end = self.end;
        let mut role: BTreeMap<String, (SimTime, ZkRole, u32)> = BTreeMap::new();
        let mut crashed: BTreeMap<String, (SimTime, &'static str)> = BTreeMap::new();
        let mut paused: BTreeMap<String, SimTime> = BTreeMap::new();
        let mut split: Option<Split> = None;
        let mut net: Option<(SimTime, String)> = None;
        // Slowed disks: since when, and the fault's description.
        let mut slow_disk: BTreeMap<String, (SimTime, String)> = BTreeMap::new();
        let mut controller: Option<(SimTime, String, i32)> = None;
        let mut leader: Option<(SimTime, String, u32)> = None;
        let mut part_leader: BTreeMap<String, (i64, Vec<u32>)> = BTreeMap::new();
        let mut led: BTreeMap<String, (SimTime, BTreeSet<String>)> = BTreeMap::new();

        let role_class = |r: ZkRole| match r {
            ZkRole::Looking => "role looking",
            ZkRole::Following => "role following",
            ZkRole::Leading => "role leading",
            ZkRole::ReadOnly => "role readonly",
        };
        let role_name = |r: ZkRole| match r {
            ZkRole::Looking => "LOOKING",
            ZkRole::Following => "FOLLOWING",
            ZkRole::Leading => "LEADING",
            ZkRole::ReadOnly => "READ-ONLY",
        };

        let records: Vec<_> = self.h.events.iter().collect();
        for r in records {
            let at = r.at;
            let node = r.node.clone();
            // A role ends at the next role change or a crash.
            let close_role = |this: &mut Page,
                              role: &mut BTreeMap<String, (SimTime, ZkRole, u32)>,
                              node: &str| {
                if let Some((from, ro, ep)) = role.remove(node) {
                    let label = role_name(ro).to_string();
                    let tip = format!(
                        "{node} {label} epoch {ep}\n{from} .. {at} ({})",
                        fmt_span(from, at)
                    );
                    this.push(
                        node,
                        Span {
                            from,
                            to: at,
                            class: role_class(ro),
                            label,
                            tip,
                        },
                    );
                }
            };
            match &r.event {
                Event::Zk(ZkEvent::RoleChanged { role: ro, epoch }) => {
                    close_role(self, &mut role, &node);
                    role.insert(node.clone(), (at, *ro, *epoch));
                    if matches!(&leader, Some((_, l, _)) if *l == node) && *ro != ZkRole::Leading {
                        let (from, l, e) = leader.take().expect("checked");
                        self.zk_leaders.push((from, at, l, e));
                    }
                }
                Event::Zk(ZkEvent::LeaderEstablished { epoch, .. }) => {
                    if let Some((from, l, e)) = leader.take() {
                        self.zk_leaders.push((from, at, l, e));
                    }
                    leader = Some((at, node.clone(), *epoch));
                }
                Event::Zk(ZkEvent::SteppedDown { .. }) => {
                    if matches!(&leader, Some((_, l, _)) if *l == node) {
                        let (from, l, e) = leader.take().expect("checked");
                        self.zk_leaders.push((from, at, l, e));
                    }
                }
                Event::Sim(SimEvent::NodeCrashed {
                    torn,
                    disk_lost,
                    page_cache_kept,
                }) => {
                    close_role(self, &mut role, &node);
                    if matches!(&leader, Some((_, l, _)) if *l == node) {
                        let (from, l, e) = leader.take().expect("checked");
                        self.zk_leaders.push((from, at, l, e));
                    }
                    if matches!(&controller, Some((_, c, _)) if *c == node) {
                        let (from, c, e) = controller.take().expect("checked");
                        self.push_controller(&c, from, at, e);
                    }
                    let what = match (page_cache_kept, torn, disk_lost) {
                        (true, _, _) => "crashed (process killed)",
                        (false, _, true) => "crashed, disk lost",
                        (false, true, false) => "crashed, power loss, torn write",
                        (false, false, false) => "crashed, power loss",
                    };
                    crashed.insert(node.clone(), (at, what));
                    paused.remove(&node);
                }
                Event::Sim(SimEvent::NodeStarted { .. }) => {
                    if let Some((from, what)) = crashed.remove(&node) {
                        self.push_crash(&node, from, at, what);
                    }
                }
                Event::Sim(SimEvent::NodePaused) => {
                    paused.insert(node.clone(), at);
                }
                Event::Sim(SimEvent::NodeResumed) => {
                    if let Some(from) = paused.remove(&node) {
                        let tip = format!("{node} paused\n{from} .. {at} ({})", fmt_span(from, at));
                        self.push(
                            &node,
                            Span {
                                from,
                                to: at,
                                class: "fault pause",
                                label: "paused".into(),
                                tip,
                            },
                        );
                    }
                }
                Event::Sim(SimEvent::Partitioned { groups }) => {
                    if let Some(s) = split.take() {
                        self.push_split(s, at);
                    }
                    let text = groups
                        .iter()
                        .map(|g| format!("{{{}}}", g.join(", ")))
                        .collect::<Vec<_>>()
                        .join(" | ");
                    let per_node = groups
                        .iter()
                        .flat_map(|g| g.iter().map(move |n| (n.clone(), g.join(", "))))
                        .collect();
                    split = Some((at, format!("partition {text}"), per_node));
                }
                Event::Sim(SimEvent::LinkCut { from, to }) => {
                    let text = format!("link cut {from} -> {to}");
                    match &mut split {
                        Some((_, label, per_node)) => {
                            label.push_str("; ");
                            label.push_str(&text);
                            per_node.push((from.clone(), format!("cut: {from} -> {to} dropped")));
                        }
                        None => {
                            split = Some((
                                at,
                                text,
                                vec![(from.clone(), format!("cut: {from} -> {to} dropped"))],
                            ))
                        }
                    }
                }
                Event::Sim(SimEvent::Healed) => {
                    if let Some(s) = split.take() {
                        self.push_split(s, at);
                    }
                }
                Event::Sim(e @ SimEvent::NetChanged { loss_permille, .. }) => {
                    if let Some((from, label)) = net.take() {
                        let tip = format!("{label}\n{from} .. {at}");
                        self.push(
                            "network",
                            Span {
                                from,
                                to: at,
                                class: "fault net",
                                label,
                                tip,
                            },
                        );
                    }
                    if *loss_permille > 0
                        || matches!(e, SimEvent::NetChanged { latency_max_us, .. } if *latency_max_us > 0)
                    {
                        net = Some((at, describe(&Event::Sim(e.clone()), &self.names)));
                    }
                }
                Event::Sim(e @ SimEvent::DiskChanged { restored, .. }) => {
                    if let Some((from, label)) = slow_disk.remove(&node) {
                        self.push_slow_disk(&node, from, at, label);
                    }
                    if !restored {
                        let label = describe(&Event::Sim(e.clone()), &self.names);
                        slow_disk.insert(node.clone(), (at, label));
                    }
                }
                Event::Kafka(KafkaEvent::ControllerElected { broker, epoch }) => {
                    if let Some((from, c, e)) = controller.take() {
                        self.push_controller(&c, from, at, e);
                    }
                    controller = Some((at, self.names.broker(*broker as i64), *epoch));
                }
                Event::Kafka(KafkaEvent::ControllerResigned { broker, .. }) => {
                    let b = self.names.broker(*broker as i64);
                    if matches!(&controller, Some((_, c, _)) if *c == b) {
                        let (from, c, e) = controller.take().expect("checked");
                        self.push_controller(&c, from, at, e);
                    }
                }
                _ => {}
            }
            let part_update = match &r.event {
                Event::Kafka(KafkaEvent::PartitionStateWritten {
                    topic,
                    partition,
                    leader,
                    isr,
                    ..
                }) => Some((topic, partition, *leader as i64, isr)),
                Event::Kafka(KafkaEvent::IsrChanged {
                    topic,
                    partition,
                    leader,
                    isr,
                    ..
                }) => Some((topic, partition, *leader as i64, isr)),
                _ => None,
            };
            if let Some((topic, partition, l, isr)) = part_update {
                let tp = format!("{topic}/{partition}");
                let old = part_leader.insert(tp.clone(), (l, isr.clone()));
                if old.as_ref() != Some(&(l, isr.clone())) {
                    self.part_changes.push((at, tp.clone(), l, isr.clone()));
                }
                let old_leader = old.map(|(ol, _)| ol);
                if old_leader != Some(l) {
                    // Close the leadership spans of the brokers whose set changes.
                    let mut affected = vec![self.names.broker(l)];
                    if let Some(ol) = old_leader {
                        affected.push(self.names.broker(ol));
                    }
                    for b in affected {
                        let mut set = led.remove(&b).map(|(from, set)| {
                            if !set.is_empty() {
                                self.push_led(&b, from, at, &set);
                            }
                            set
                        });
                        let s = set.get_or_insert_with(BTreeSet::new);
                        if b == self.names.broker(l) && l >= 0 {
                            s.insert(tp.clone());
                        } else {
                            s.remove(&tp);
                        }
                        led.insert(b, (at, set.unwrap_or_default()));
                    }
                }
            }
        }
        // Close everything still open at the end of the run.
        for (node, (from, ro, ep)) in role {
            let label = role_name(ro).to_string();
            let tip = format!(
                "{node} {label} epoch {ep}\n{from} .. end ({})",
                fmt_span(from, end)
            );
            self.push(
                &node,
                Span {
                    from,
                    to: end,
                    class: role_class(ro),
                    label,
                    tip,
                },
            );
        }
        for (node, (from, what)) in crashed {
            self.push_crash(&node, from, end, what);
        }
        for (node, from) in paused {
            let tip = format!("{node} paused\n{from} .. end (never resumed)");
            self.push(
                &node,
                Span {
                    from,
                    to: end,
                    class: "fault pause",
                    label: "paused".into(),
                    tip,
                },
            );
        }
        for (node, (from, label)) in slow_disk {
            self.push_slow_disk(&node, from, end, label);
        }
        if let Some(s) = split {
            self.push_split(s, end);
        }
        if let Some((from, label)) = net {
            let tip = format!("{label}\n{from} .. end");
            self.push(
                "network",
                Span {
                    from,
                    to: end,
                    class: "fault net",
                    label,
                    tip,
                },
            );
        }
        if let Some((from, c, e)) = controller {
            self.push_controller(&c, from, end, e);
        }
        if let Some((from, l, e)) = leader {
            self.zk_leaders.push((from, end, l, e));
        }
        for (b, (from, set)) in led {
            if !set.is_empty() {
                self.push_led(&b, from, end, &set);
            }
        }
    }

    fn push_slow_disk(&mut self, node: &str, from: SimTime, to: SimTime, label: String) {
        let until = if to == self.end {
            "end (never restored)".to_string()
        } else {
            to.to_string()
        };
        let tip = format!("{node} {label}\n{from} .. {until} ({})", fmt_span(from, to));
        self.push(
            node,
            Span {
                from,
                to,
                class: "fault disk",
                label: "slow disk".into(),
                tip,
            },
        );
    }

    fn push_crash(&mut self, node: &str, from: SimTime, to: SimTime, what: &str) {
        let until = if to == self.end {
            "end (never restarted)".to_string()
        } else {
            to.to_string()
        };
        let tip = format!("{node} {what}\n{from} .. {until} ({})", fmt_span(from, to));
        self.push(
            node,
            Span {
                from,
                to,
                class: "fault crash",
                label: "down".into(),
                tip,
            },
        );
    }

    fn push_split(&mut self, (from, label, per_node): Split, to: SimTime) {
        let tip = format!("{label}\n{from} .. {to} ({})", fmt_span(from, to));
        self.push(
            "network",
            Span {
                from,
                to,
                class: "fault partition",
                label: label.clone(),
                tip,
            },
        );
        for (node, side) in per_node {
            let tip = format!("{label}\n{node}: {side}\n{from} .. {to}");
            self.push(
                &node,
                Span {
                    from,
                    to,
                    class: "fault partition",
                    label: String::new(),
                    tip,
                },
            );
        }
    }

    fn push_controller(&mut self, node: &str, from: SimTime, to: SimTime, epoch: i32) {
        let tip = format!(
            "{node} controller, epoch {epoch}\n{from} .. {to} ({})",
            fmt_span(from, to)
        );
        self.push(
            node,
            Span {
                from,
                to,
                class: "controller",
                label: format!("controller e{epoch}"),
                tip,
            },
        );
    }

    fn push_led(&mut self, node: &str, from: SimTime, to: SimTime, set: &BTreeSet<String>) {
        let list = set.iter().cloned().collect::<Vec<_>>().join(", ");
        let tip = format!("{node} leads {list}\n{from} .. {to}");
        self.push(
            node,
            Span {
                from,
                to,
                class: "pleader",
                label: format!("leads {}", set.len()),
                tip,
            },
        );
    }

    fn render(&mut self, title: &str, checks: &[CheckReport], highlights: &[Highlight]) -> String {
        let mut o = String::with_capacity(64 * 1024);
        o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(o, "<title>{}</title>", esc(title));
        o.push_str("<script>\n");
        o.push_str(ERROR_COUNTER_JS);
        o.push_str("</script>\n<style>\n");
        o.push_str(CSS);
        o.push_str("</style>\n</head>\n<body>\n");
        let _ = writeln!(o, "<h1>{}</h1>", esc(title));
        self.checker_panel(&mut o, checks, highlights);
        self.summary(&mut o);
        self.violation_panel(&mut o, highlights);
        let aggregated = self.h.ops.len() > OP_BARS_MAX;
        if aggregated {
            let _ = writeln!(
                o,
                "<p class=\"note\" id=\"aggregation-note\">{} operations is more than {OP_BARS_MAX}: client lanes show \
                 {AGG_BUCKETS} time buckets each (grey if any operation in the bucket got no answer, else blue if most were \
                 refused, else green; hover for counts). \
                 Highlighted operations are drawn individually.</p>",
                self.h.ops.len()
            );
        }
        o.push_str(LEGEND);
        self.timeline(&mut o, highlights, aggregated);
        o.push_str("<div id=\"details\" class=\"details\">Click an operation, span or event for its details.</div>\n");
        self.charts(&mut o);
        for n in &self.notes {
            let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(n));
        }
        o.push_str("<script>\n");
        o.push_str(MAIN_JS);
        o.push_str("</script>\n</body>\n</html>\n");
        o
    }

    fn summary(&self, o: &mut String) {
        let count = |x: OpClass| self.h.ops.iter().filter(|op| OpClass::of(op) == x).count();
        let info = self
            .h
            .ops
            .iter()
            .filter(|op| op.outcome == Outcome::Info)
            .count();
        let _ = writeln!(
            o,
            "<p class=\"summary\">Run length {}; {} operations: {} ok, {} definite errors, {} unavailable or unknown \
             ({} of them info); {} events. JavaScript errors: <span id=\"js-errors\">0</span>.</p>",
            self.end,
            self.h.ops.len(),
            count(OpClass::Ok),
            count(OpClass::Definite),
            count(OpClass::Unavailable),
            info,
            self.h.events.len()
        );
        o.push_str(
            "<p class=\"controls\"><label><input type=\"checkbox\" id=\"hide-ok\"> hide ok operations</label></p>\n",
        );
    }

    fn op_tip(&self, i: usize, op: &Op) -> String {
        let mut t = format!(
            "op #{i} by client process {}: {}\n",
            op.process,
            describe_call(&op.call)
        );
        let outcome = match op.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let _ = writeln!(
            t,
            "outcome: {outcome} ({}); returned {}",
            OpClass::of(op).meaning(),
            describe_ret(&op.ret)
        );
        match op.complete {
            Some(c) => {
                let _ = writeln!(
                    t,
                    "invoked {} completed {} ({})",
                    op.invoke,
                    c,
                    fmt_span(op.invoke, c)
                );
            }
            None => {
                let _ = writeln!(t, "invoked {}, never completed", op.invoke);
            }
        }
        if let Some(z) = op.zxid {
            let _ = writeln!(t, "zxid {}", fmt_zxid(z));
        }
        if let Some(n) = &op.node {
            let _ = write!(t, "server {n}");
        }
        if let Some(s) = op.session {
            let _ = write!(t, " session {}", fmt_session(s));
        }
        t.trim_end().to_string()
    }

    fn violation_panel(&self, o: &mut String, highlights: &[Highlight]) {
        if highlights.is_empty() {
            return;
        }
        o.push_str("<section id=\"violation\" class=\"violation\">\n");
        let outside_only = highlights
            .iter()
            .all(|h| h.label.starts_with(super::folder::OUTSIDE_LABEL));
        let plural = highlights.len() > 1;
        let heading = match (outside_only, plural) {
            (true, true) => "Outside the fault model: breaches",
            (true, false) => "Outside the fault model: breach",
            (false, true) => "Violations",
            (false, false) => "Violation",
        };
        let _ = writeln!(o, "<h2>{heading}</h2>");
        for (k, hl) in highlights.iter().enumerate() {
            let _ = writeln!(o, "<div class=\"highlight\" id=\"violation-{}\">", k + 1);
            let _ = write!(o, "<p class=\"label\">{}", esc(&hl.label));
            if let Some(at) = hl.at {
                let _ = write!(o, " <span class=\"at\">at {at}</span>");
            }
            let _ = writeln!(
                o,
                " <a href=\"#mark-{}\">show on the timeline</a></p>",
                k + 1
            );
            if !hl.ops.is_empty() {
                o.push_str("<ul class=\"hl-ops\">\n");
                for &i in &hl.ops {
                    match self.h.ops.get(i) {
                        Some(op) => {
                            let _ = writeln!(
                                o,
                                "<li><a href=\"#op-{i}\">{}</a></li>",
                                esc(&self.op_tip(i, op))
                            );
                        }
                        None => {
                            let _ = writeln!(
                                o,
                                "<li>op #{i}: not in this history ({} ops)</li>",
                                self.h.ops.len()
                            );
                        }
                    }
                }
                o.push_str("</ul>\n");
            }
            if !hl.events.is_empty() {
                o.push_str("<ul class=\"hl-events\">\n");
                for &i in &hl.events {
                    match self.h.events.get(i) {
                        Some(r) => {
                            let text =
                                format!("{} {}: {}", r.at, r.node, describe(&r.event, &self.names));
                            let _ = writeln!(o, "<li>event #{i}: {}</li>", esc(&text));
                        }
                        None => {
                            let _ = writeln!(
                                o,
                                "<li>event #{i}: not in this history ({} events)</li>",
                                self.h.events.len()
                            );
                        }
                    }
                }
                o.push_str("</ul>\n");
            }
            o.push_str("</div>\n");
        }
        o.push_str("</section>\n");
    }

    /// Node lanes in a stable order: ZooKeeper servers, Kafka brokers, then any other node
    /// (clients, producers, consumers).
    fn node_lanes(&self) -> Vec<String> {
        let mut lanes: Vec<String> = self.servers.iter().cloned().collect();
        lanes.extend(
            self.brokers
                .iter()
                .filter(|n| !self.servers.contains(*n))
                .cloned(),
        );
        let known: BTreeSet<String> = lanes.iter().cloned().collect();
        let mut others = BTreeSet::new();
        for r in &self.h.events {
            if r.node != "world" && !known.contains(&r.node) {
                others.insert(r.node.clone());
            }
        }
        for op in &self.h.ops {
            if let Some(n) = &op.node {
                if !known.contains(n) {
                    others.insert(n.clone());
                }
            }
        }
        lanes.extend(others);
        lanes
    }

    /// A node lane's kind (`server`, `broker` or `node`) and its label: servers by name
    /// (`zk1`), brokers as `broker <id>`, anything else as `node <name>`, so that no node
    /// label reads like a client process lane (`client process <n>`).
    fn node_label(&self, lane: &str) -> (&'static str, String) {
        if self.servers.contains(lane) {
            ("server", lane.to_string())
        } else if self.brokers.contains(lane) {
            match trailing_number(lane) {
                Some(id) => ("broker", format!("broker {id}")),
                None => ("broker", format!("broker {lane}")),
            }
        } else {
            ("node", format!("node {lane}"))
        }
    }

    /// Where a highlight is drawn on the timeline: its own instant, else the earliest of
    /// its ops' invocations and its events.
    fn hl_at(&self, hl: &Highlight) -> Option<SimTime> {
        hl.at.or_else(|| {
            let from_ops = hl
                .ops
                .iter()
                .filter_map(|i| self.h.ops.get(*i))
                .map(|op| op.invoke);
            let from_events = hl
                .events
                .iter()
                .filter_map(|i| self.h.events.get(*i))
                .map(|r| r.at);
            from_ops.chain(from_events).min()
        })
    }

    /// The checker panel: one row per checker with its verdict, what it judged, and a link
    /// to its first violation (or breach outside the fault model) in the violation list
    /// and on the timeline.
    fn checker_panel(&self, o: &mut String, checks: &[CheckReport], highlights: &[Highlight]) {
        if checks.is_empty() {
            return;
        }
        let count = |f: fn(&Verdict) -> bool| checks.iter().filter(|c| f(&c.verdict)).count();
        let _ = writeln!(
            o,
            "<section id=\"checkers\"><h2>Checkers</h2>\n<p class=\"checker-counts\">{} checkers: {} ok, {} violated, {} outside the fault model, {} unknown.</p>",
            checks.len(),
            count(|v| matches!(v, Verdict::Ok)),
            count(|v| matches!(v, Verdict::Violated(_))),
            count(|v| matches!(v, Verdict::OutsideFaultModel(_))),
            count(|v| matches!(v, Verdict::Unknown { .. })),
        );
        o.push_str(
            "<table class=\"checkers\"><thead><tr><th>checker</th><th>verdict</th><th>what it judged</th>\
             <th>first violation</th></tr></thead><tbody>\n",
        );
        for (n, c) in checks.iter().enumerate() {
            let (class, verdict) = match &c.verdict {
                Verdict::Ok => ("ok", "ok".to_string()),
                Verdict::Violated(v) => ("violated", format!("VIOLATED ({})", v.len())),
                Verdict::OutsideFaultModel(e) => {
                    ("outside", format!("outside the fault model ({})", e.len()))
                }
                Verdict::Unknown { reason } => ("unknown", format!("unknown: {reason}")),
            };
            let _ = write!(
                o,
                "<tr id=\"checker-{}\" class=\"checker {class}\"><td><code>{}</code></td><td class=\"verdict {class}\">{}</td><td>{}",
                n + 1,
                esc(&c.checker),
                esc(&verdict),
                esc(&c.judged())
            );
            if !c.notes.is_empty() {
                let _ = write!(o, "<details><summary>{} notes</summary><ul>", c.notes.len());
                for note in c.notes.iter().take(CHECKER_NOTES_MAX) {
                    let _ = write!(o, "<li>{}</li>", esc(note));
                }
                if c.notes.len() > CHECKER_NOTES_MAX {
                    let _ = write!(
                        o,
                        "<li>... and {} more</li>",
                        c.notes.len() - CHECKER_NOTES_MAX
                    );
                }
                o.push_str("</ul></details>");
            }
            o.push_str("</td><td>");
            let first = highlights
                .iter()
                .position(|h| h.checker.as_deref() == Some(c.checker.as_str()));
            match first {
                Some(k) => {
                    let hl = &highlights[k];
                    let label: String = hl.label.chars().take(FIRST_VIOLATION_CHARS_MAX).collect();
                    let _ = write!(
                        o,
                        "<a class=\"first-violation\" href=\"#violation-{}\">{}</a>",
                        k + 1,
                        esc(&label)
                    );
                    if let Some(at) = self.hl_at(hl) {
                        let _ = write!(
                            o,
                            " <a class=\"on-timeline\" href=\"#mark-{}\">on the timeline at {at}</a>",
                            k + 1
                        );
                    }
                }
                None if c.verdict.is_violated() => o.push_str("see the violations below"),
                None => o.push_str("&mdash;"),
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</tbody></table></section>\n");
    }

    fn axis(&self, o: &mut String) {
        let end_ms = self.end.as_millis().max(1);
        let mut step = 1u64;
        'find: for mag in [1u64, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000] {
            for m in [1, 2, 5] {
                if end_ms / (mag * m) <= 12 {
                    step = mag * m;
                    break 'find;
                }
            }
            step = mag * 10;
        }
        o.push_str(
            "<div class=\"lane axis\"><div class=\"lane-label\">time</div><div class=\"track\">",
        );
        let mut t = 0;
        while t <= end_ms {
            let at = SimTime::from_millis(t);
            let _ = write!(
                o,
                "<span class=\"tick-label\" style=\"left:{:.3}%\">{at}</span>",
                self.x(at)
            );
            t += step;
        }
        o.push_str("</div></div>\n");
    }

    fn span_html(&self, o: &mut String, s: &Span) {
        let _ = write!(
            o,
            "<span class=\"{}\" style=\"{}\" title=\"{}\">{}</span>",
            s.class,
            self.pos_style(s.from, s.to),
            esc(&s.tip),
            esc(&s.label)
        );
    }

    fn timeline(&self, o: &mut String, highlights: &[Highlight], aggregated: bool) {
        o.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"lanes\">\n");
        self.axis(o);
        let hl_events: BTreeMap<usize, usize> = highlights
            .iter()
            .enumerate()
            .flat_map(|(k, h)| h.events.iter().map(move |e| (*e, k + 1)))
            .collect();
        let hl_ops: BTreeMap<usize, usize> = highlights
            .iter()
            .enumerate()
            .flat_map(|(k, h)| h.ops.iter().map(move |e| (*e, k + 1)))
            .collect();

        if let Some(spans) = self.spans.get("network") {
            o.push_str("<div class=\"lane\" data-lane=\"network\"><div class=\"lane-label\">network</div><div class=\"track\">");
            for s in spans {
                self.span_html(o, s);
            }
            o.push_str("</div></div>\n");
        }

        // Event ticks per node: significant events only, capped.
        let mut ticks: BTreeMap<&str, Vec<(usize, SimTime, String, bool)>> = BTreeMap::new();
        let mut ticks_drawn = 0usize;
        let mut ticks_skipped = 0usize;
        for (i, r) in self.h.events.iter().enumerate() {
            let hl = hl_events.contains_key(&i);
            if !(hl || significant(&r.event)) {
                continue;
            }
            if !hl && ticks_drawn >= EVENT_TICKS_MAX {
                ticks_skipped += 1;
                continue;
            }
            ticks_drawn += 1;
            let text = format!(
                "event #{i} at {}\n{}: {}",
                r.at,
                r.node,
                describe(&r.event, &self.names)
            );
            ticks
                .entry(r.node.as_str())
                .or_default()
                .push((i, r.at, text, hl));
        }

        let mut group = "";
        for lane in self.node_lanes() {
            let (kind, label) = self.node_label(&lane);
            if kind != group {
                group = kind;
                let heading = match kind {
                    "server" => "ZooKeeper servers",
                    "broker" => "Kafka brokers",
                    _ => "Other nodes (clients, producers, consumers: faults and sessions)",
                };
                let _ = writeln!(o, "<div class=\"lane-group\">{heading}</div>");
            }
            let _ = write!(
                o,
                "<div class=\"lane node\" data-lane=\"{}\" data-kind=\"{kind}\"><div class=\"lane-label\" title=\"{}\">{}</div><div class=\"track\">",
                esc(&lane),
                esc(&format!("{label} (node {lane})")),
                esc(&label)
            );
            if let Some(spans) = self.spans.get(&lane) {
                for s in spans {
                    self.span_html(o, s);
                }
            }
            for (i, at, text, hl) in ticks.get(lane.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                let class = if *hl { "ev violation-event" } else { "ev" };
                let _ =
                    write!(o, "<span class=\"{class}\" id=\"ev-{i}\" style=\"left:{:.3}%\" title=\"{}\"></span>", self.x(*at), esc(text));
            }
            o.push_str("</div></div>\n");
        }
        if ticks_skipped > 0 {
            let _ = writeln!(
                o,
                "<p class=\"note\">{ticks_skipped} more protocol events are not drawn (at most {EVENT_TICKS_MAX} event ticks).</p>"
            );
        }

        // Client lanes.
        let mut by_process: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, op) in self.h.ops.iter().enumerate() {
            by_process.entry(op.process).or_default().push(i);
        }
        if !by_process.is_empty() {
            o.push_str(
                "<div class=\"lane-group\">Client operations, one lane per client process (a history's <code>process</code>)</div>\n",
            );
        }
        for (p, idx) in &by_process {
            let _ = write!(
                o,
                "<div class=\"lane client\" data-lane=\"client-{p}\" data-kind=\"process\"><div class=\"lane-label\" title=\"operations of client process {p}\">client process {p}</div><div class=\"track\">"
            );
            if aggregated {
                self.aggregate_lane(o, idx, &hl_ops);
            }
            for &i in idx {
                let hl = hl_ops.get(&i);
                if aggregated && hl.is_none() {
                    continue;
                }
                let op = &self.h.ops[i];
                let outcome = OpClass::of(op).css();
                let open = if op.complete.is_none() { " open" } else { "" };
                let hl_class = if hl.is_some() { " hl" } else { "" };
                let to = op.complete.unwrap_or(self.end);
                let _ = write!(
                    o,
                    "<span class=\"op {outcome}{open}{hl_class}\" id=\"op-{i}\" style=\"{}\" title=\"{}\"></span>",
                    self.pos_style(op.invoke, to),
                    esc(&self.op_tip(i, op))
                );
            }
            o.push_str("</div></div>\n");
        }

        // Violation marks across all lanes.
        for (k, hl) in highlights.iter().enumerate() {
            if let Some(at) = self.hl_at(hl) {
                let _ = writeln!(
                    o,
                    "<div class=\"violation-mark\" id=\"mark-{}\" style=\"left:calc(var(--label-w) + (100% - var(--label-w)) * {:.5})\" title=\"{}\"></div>",
                    k + 1,
                    self.x(at) / 100.0,
                    esc(&format!("{} at {at}", hl.label))
                );
            }
        }
        o.push_str("</div>\n</section>\n");
    }

    fn aggregate_lane(&self, o: &mut String, idx: &[usize], hl_ops: &BTreeMap<usize, usize>) {
        let mut buckets = vec![[0usize; 3]; AGG_BUCKETS];
        for &i in idx {
            if hl_ops.contains_key(&i) {
                continue;
            }
            let op = &self.h.ops[i];
            let b =
                ((op.invoke.0 as u128 * AGG_BUCKETS as u128) / (self.end.0 as u128 + 1)) as usize;
            let k = match OpClass::of(op) {
                OpClass::Ok => 0,
                OpClass::Definite => 1,
                OpClass::Unavailable => 2,
            };
            buckets[b.min(AGG_BUCKETS - 1)][k] += 1;
        }
        for (b, c) in buckets.iter().enumerate() {
            if c.iter().sum::<usize>() == 0 {
                continue;
            }
            // Any unavailability in the bucket shows (it is what a reader looks for); a
            // definite error is the system working, so it colours a bucket only when most
            // of its operations were refused.
            let class = if c[2] > 0 {
                OpClass::Unavailable
            } else if c[1] > c[0] {
                OpClass::Definite
            } else {
                OpClass::Ok
            };
            let from = SimTime((self.end.0 as u128 * b as u128 / AGG_BUCKETS as u128) as u64);
            let to = SimTime((self.end.0 as u128 * (b as u128 + 1) / AGG_BUCKETS as u128) as u64);
            let tip = format!(
                "{from} .. {to}: {} ok, {} definite errors, {} unavailable or unknown",
                c[0], c[1], c[2]
            );
            let worst = class.css();
            let _ = write!(
                o,
                "<span class=\"agg {worst}\" style=\"{}\" title=\"{tip}\"></span>",
                self.pos_style(from, to)
            );
        }
    }

    fn charts(&mut self, o: &mut String) {
        o.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
        self.chart_writes(o);
        self.chart_zk_leader(o);
        self.chart_isr(o);
        o.push_str("</section>\n");
    }

    fn chart_writes(&self, o: &mut String) {
        let secs = (self.end.0 / 1_000_000_000 + 1) as usize;
        let mut ok = vec![0usize; secs];
        let mut tried = vec![0usize; secs];
        for op in self.h.ops.iter().filter(|op| op.call.is_write()) {
            tried[(op.invoke.0 / 1_000_000_000) as usize] += 1;
            if op.outcome == Outcome::Ok {
                if let Some(c) = op.complete {
                    ok[((c.0 / 1_000_000_000) as usize).min(secs - 1)] += 1;
                }
            }
        }
        if tried.iter().all(|c| *c == 0) {
            return;
        }
        let max = tried
            .iter()
            .chain(ok.iter())
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let (w, h) = (CHART_W, CHART_H);
        let bw = w / secs as f64;
        let mut body = String::new();
        for s in 0..secs {
            let x = s as f64 * bw;
            let ht = tried[s] as f64 / max as f64 * h;
            let ho = ok[s] as f64 / max as f64 * h;
            let _ = write!(
                body,
                "<rect class=\"tried\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{ht:.2}\"><title>{s}s: {} writes invoked, {} ok</title></rect>\
                 <rect class=\"okw\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{ho:.2}\"><title>{s}s: {} writes invoked, {} ok</title></rect>",
                h - ht,
                (bw - 1.0).max(0.5),
                tried[s],
                ok[s],
                h - ho,
                (bw - 1.0).max(0.5),
                tried[s],
                ok[s]
            );
        }
        chart(
            o,
            "chart-writes",
            "Writes per second (grey: invoked, green: completed ok)",
            &format!("max {max}/s"),
            &body,
        );
    }

    fn chart_zk_leader(&self, o: &mut String) {
        let nodes: Vec<&String> = self.servers.iter().collect();
        if nodes.is_empty() {
            return;
        }
        let row = CHART_H / nodes.len() as f64;
        let mut body = String::new();
        for (k, n) in nodes.iter().enumerate() {
            let _ = write!(
                body,
                "<line class=\"grid\" x1=\"0\" x2=\"{CHART_W}\" y1=\"{y:.2}\" y2=\"{y:.2}\"></line><text x=\"2\" y=\"{ty:.2}\">{}</text>",
                esc(n),
                y = (k as f64 + 0.5) * row,
                ty = (k as f64 + 0.5) * row - 3.0
            );
        }
        for (from, to, l, e) in &self.zk_leaders {
            let Some(k) = nodes.iter().position(|n| *n == l) else {
                continue;
            };
            let y = (k as f64 + 0.5) * row;
            let x1 = self.x(*from) / 100.0 * CHART_W;
            let x2 = (self.x(*to) / 100.0 * CHART_W).max(x1 + 1.0);
            let _ = write!(
                body,
                "<line class=\"series s{}\" x1=\"{x1:.2}\" x2=\"{x2:.2}\" y1=\"{y:.2}\" y2=\"{y:.2}\"><title>{} leads epoch {e}: {from} .. {to}</title></line>",
                k % 8,
                esc(l)
            );
        }
        let caption = if self.zk_leaders.is_empty() {
            "no leader was ever established"
        } else {
            ""
        };
        chart(
            o,
            "chart-zk-leader",
            "ZooKeeper leader over time (established leaders)",
            caption,
            &body,
        );
    }

    fn chart_isr(&mut self, o: &mut String) {
        if self.part_changes.is_empty() {
            return;
        }
        let parts: BTreeSet<&String> = self.part_changes.iter().map(|(_, tp, _, _)| tp).collect();
        let shown: Vec<&String> = parts.iter().take(ISR_SERIES_MAX).copied().collect();
        let max_isr = self
            .part_changes
            .iter()
            .map(|(_, _, _, isr)| isr.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let y = |n: usize| CHART_H - n as f64 / max_isr as f64 * (CHART_H - 4.0);
        let mut body = String::new();
        for (k, tp) in shown.iter().enumerate() {
            let mut pts = Vec::new();
            let mut last: Option<usize> = None;
            for (at, p, _, isr) in self.part_changes.iter().filter(|c| &c.1 == *tp) {
                let x = self.x(*at) / 100.0 * CHART_W;
                if let Some(l) = last {
                    pts.push(format!("{x:.2},{:.2}", y(l)));
                }
                pts.push(format!("{x:.2},{:.2}", y(isr.len())));
                last = Some(isr.len());
                let _ = p;
            }
            if let Some(l) = last {
                pts.push(format!("{CHART_W:.2},{:.2}", y(l)));
            }
            let _ = write!(
                body,
                "<polyline class=\"series s{}\" points=\"{}\"><title>ISR size of {}</title></polyline>",
                k % 8,
                pts.join(" "),
                esc(tp)
            );
        }
        let mut caption = format!("y: 0..{max_isr} replicas");
        if parts.len() > shown.len() {
            let _ = write!(
                caption,
                "; first {} of {} partitions",
                shown.len(),
                parts.len()
            );
        }
        chart(o, "chart-isr", "ISR size per partition", &caption, &body);

        // Under-replicated: ISR smaller than the largest ISR the partition ever had (the
        // history does not record the assignment itself), or no leader at all.
        let mut full: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, tp, _, isr) in &self.part_changes {
            let e = full.entry(tp.as_str()).or_insert(0);
            *e = (*e).max(isr.len());
        }
        let mut state: BTreeMap<&str, bool> = BTreeMap::new();
        let mut pts = vec![format!("0,{CHART_H:.2}")];
        let mut count = 0usize;
        let total = full.len().max(1);
        let yu = |n: usize| CHART_H - n as f64 / total as f64 * (CHART_H - 4.0);
        for (at, tp, leader, isr) in &self.part_changes {
            let under = *leader < 0 || isr.len() < full[tp.as_str()];
            let was = state.insert(tp.as_str(), under).unwrap_or(false);
            if was != under {
                let x = self.x(*at) / 100.0 * CHART_W;
                pts.push(format!("{x:.2},{:.2}", yu(count)));
                count = if under { count + 1 } else { count - 1 };
                pts.push(format!("{x:.2},{:.2}", yu(count)));
            }
        }
        pts.push(format!("{CHART_W:.2},{:.2}", yu(count)));
        let body = format!(
            "<polyline class=\"series s1\" points=\"{}\"><title>under-replicated partitions</title></polyline>",
            pts.join(" ")
        );
        chart(
            o,
            "chart-under-replicated",
            "Under-replicated partitions (ISR below its largest recorded size, or no leader)",
            &format!("y: 0..{} partitions", full.len()),
            &body,
        );
    }
}

const CHART_W: f64 = 800.0;
const CHART_H: f64 = 100.0;

fn chart(o: &mut String, id: &str, title: &str, caption: &str, body: &str) {
    let _ = writeln!(
        o,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{} <span class=\"caption\">{}</span></figcaption>\
         <svg viewBox=\"0 0 {CHART_W} {CHART_H}\" width=\"{CHART_W}\" height=\"{CHART_H}\" preserveAspectRatio=\"none\">\
         <rect class=\"frame\" x=\"0\" y=\"0\" width=\"{CHART_W}\" height=\"{CHART_H}\"></rect>{body}</svg></figure>",
        esc(title),
        esc(caption)
    );
}

/// Events worth a tick on a node lane (the rest are in the narration's verbose mode).
fn significant(e: &Event) -> bool {
    match e {
        Event::Sim(_) => false, // drawn as spans
        Event::Zk(z) => matches!(
            z,
            ZkEvent::ElectionDecided { .. }
                | ZkEvent::LeaderEstablished { .. }
                | ZkEvent::SteppedDown { .. }
                | ZkEvent::SessionClosed { .. }
                | ZkEvent::Truncated { .. }
                | ZkEvent::SnapLoaded { .. }
                | ZkEvent::SyncSent {
                    mode: SyncMode::Trunc | SyncMode::Snap,
                    ..
                }
        ),
        Event::Kafka(k) => matches!(
            k,
            KafkaEvent::ControllerElected { .. }
                | KafkaEvent::ControllerResigned { .. }
                | KafkaEvent::PartitionStateWritten { .. }
                | KafkaEvent::IsrChanged { .. }
                | KafkaEvent::LogTruncated { .. }
                | KafkaEvent::RequestRejected { .. }
        ),
    }
}

const ERROR_COUNTER_JS: &str = r#"window.kzsimErrors = 0;
window.onerror = function () {
  window.kzsimErrors += 1;
  var el = document.getElementById("js-errors");
  if (el) { el.textContent = String(window.kzsimErrors); }
  return false;
};
"#;

const MAIN_JS: &str = r#"(function () {
  "use strict";
  var details = document.getElementById("details");
  document.getElementById("timeline").addEventListener("click", function (e) {
    var t = e.target;
    if (t && t.getAttribute && t.getAttribute("title")) {
      details.textContent = t.getAttribute("title");
      var prev = document.querySelector(".selected");
      if (prev) { prev.classList.remove("selected"); }
      t.classList.add("selected");
    }
  });
  var hide = document.getElementById("hide-ok");
  hide.addEventListener("change", function () {
    document.body.classList.toggle("hide-ok", hide.checked);
  });
  var v = document.getElementById("violation");
  if (v) { document.body.classList.add("has-violation"); }
  document.getElementById("js-errors").textContent = String(window.kzsimErrors);
  document.body.setAttribute("data-js", "ok");
})();
"#;

const LEGEND: &str = "<section id=\"legend\"><h2>Legend</h2>\
<p><strong>Client operations</strong> (one lane per client process): \
<span class=\"key op ok\">ok</span> it happened; \
<span class=\"key op definite\">definite error</span> the system answered that it did not happen \
(NoNode, NodeExists, BadVersion, NotEmpty; Kafka&#39;s definite rejections such as FENCED_LEADER_EPOCH): the system working as designed; \
<span class=\"key op unavailable\">unavailable or unknown</span> no answer (timeout, connection loss, no leader) \
or an outcome that may or may not have happened (info); \
<span class=\"key op ok hl\">in a violation</span> red outline, and a red line across the timeline: \
red marks violations only.</p>\
<p><strong>Nodes</strong>: <span class=\"key role leading\">LEADING</span> <span class=\"key role following\">FOLLOWING</span> \
<span class=\"key role looking\">LOOKING</span> <span class=\"key role readonly\">READ-ONLY</span> \
<span class=\"key controller\">Kafka controller</span> <span class=\"key pleader\">partition leader</span> \
<span class=\"key fault crash\">down</span> <span class=\"key fault partition\">partitioned</span> \
<span class=\"key fault pause\">paused</span> <span class=\"key fault disk\">slow disk</span> \
<span class=\"key fault net\">lossy/slow network</span></p></section>\n";

const CSS: &str = r#":root { --label-w: 160px; }
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 16px 0 6px; }
.summary, .controls { margin: 4px 0; }
.note { background: #fff8d6; border: 1px solid #e0c860; padding: 4px 8px; }
.violation { border: 2px solid #c00; background: #fff0f0; padding: 6px 12px; }
.violation h2 { color: #c00; margin-top: 4px; }
.violation .label { font-weight: bold; }
.lanes { position: relative; }
.lane { display: flex; align-items: stretch; border-bottom: 1px solid #eee; }
.lane-label { width: var(--label-w); flex: none; font-family: monospace; padding: 2px 4px; overflow: hidden; }
.track { position: relative; flex: 1; height: 30px; background: #fafafa; }
.axis .track { height: 18px; background: none; }
.tick-label { position: absolute; top: 0; font-size: 10px; color: #666; border-left: 1px solid #ccc; padding-left: 2px; }
.track > span { position: absolute; box-sizing: border-box; overflow: hidden; white-space: nowrap; font-size: 9px; cursor: pointer; }
.role { top: 2px; height: 12px; color: #fff; padding-left: 2px; }
.role.leading { background: #2e7d32; } .role.following { background: #1565c0; }
.role.looking { background: #ef6c00; } .role.readonly { background: #6a1b9a; }
.controller { top: 2px; height: 12px; background: #00838f; color: #fff; padding-left: 2px; }
.pleader { top: 16px; height: 8px; background: #80cbc4; }
.fault { top: 0; height: 100%; opacity: .45; }
.fault.crash { background: repeating-linear-gradient(45deg, #000 0 4px, #555 4px 8px); color: #fff; }
.fault.partition { background: repeating-linear-gradient(-45deg, #795548 0 3px, transparent 3px 7px); }
.fault.pause { background: repeating-linear-gradient(90deg, #9e9e9e 0 2px, transparent 2px 5px); }
.fault.net { background: #fbc02d; }
.fault.disk { background: repeating-linear-gradient(0deg, #8e24aa 0 2px, transparent 2px 6px); }
.lane[data-lane="network"] .fault { opacity: .6; font-size: 10px; color: #000; }
.ev { top: 24px; width: 4px; height: 6px; margin-left: -2px; background: #555; }
.ev.violation-event { top: 0; height: 100%; width: 6px; margin-left: -3px; background: #c00; }
.op, .agg { top: 6px; height: 16px; border: 1px solid rgba(0,0,0,.25); }
.op.ok, .agg.ok { background: #66bb6a; }
.op.definite, .agg.definite { background: #42a5f5; }
.op.unavailable, .agg.unavailable { background: #9e9e9e; }
.op.open { top: 22px; height: 6px; opacity: .6; }
.op.hl { outline: 3px solid #c00; z-index: 5; top: 2px; height: 24px; }
.selected { outline: 2px solid #000 !important; }
.hide-ok .op.ok, .hide-ok .agg.ok { display: none; }
.violation-mark { position: absolute; top: 0; bottom: 0; width: 2px; background: #c00; z-index: 10; pointer-events: none; }
.details { white-space: pre-wrap; font-family: monospace; background: #f4f4f4; padding: 6px; margin: 8px 0; min-height: 2em; }
.chart { margin: 8px 0; } .chart svg { display: block; width: 100%; max-width: 800px; height: 100px; }
.chart .frame { fill: #fafafa; stroke: #ccc; } .chart .caption { color: #666; font-size: 11px; }
.chart .tried { fill: #bdbdbd; } .chart .okw { fill: #43a047; }
.chart .grid { stroke: #eee; } .chart text { font-size: 9px; fill: #666; }
.chart .series { fill: none; stroke-width: 2; }
line.series { stroke-width: 6; }
.s0 { stroke: #1565c0; } .s1 { stroke: #f9a825; } .s2 { stroke: #2e7d32; } .s3 { stroke: #6a1b9a; }
.s4 { stroke: #ef6c00; } .s5 { stroke: #00838f; } .s6 { stroke: #5d4037; } .s7 { stroke: #546e7a; }
.key { display: inline-block; position: static; padding: 0 6px; margin: 2px; height: auto; }
.key.op, .key.op.hl { height: auto; border: 1px solid rgba(0,0,0,.25); }
.lane-group { font-size: 11px; font-weight: bold; color: #555; padding: 6px 0 2px; border-bottom: 1px solid #ccc; }
#checkers table { border-collapse: collapse; margin: 4px 0; }
#checkers th, #checkers td { text-align: left; vertical-align: top; padding: 2px 10px 2px 0; border-bottom: 1px solid #eee; }
.verdict.ok { color: #2e7d32; font-weight: bold; } .verdict.violated { color: #c00; font-weight: bold; }
.verdict.outside { color: #795548; font-weight: bold; } .verdict.unknown { color: #757575; font-weight: bold; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Call, Ret};
    use crate::report::narrate::tests::{kafka_story, op, zk_story};

    fn hl() -> Highlight {
        Highlight {
            checker: None,
            label: "read of x saw <stale> value".into(),
            ops: vec![2, 99],
            events: vec![16],
            at: None,
        }
    }

    #[test]
    fn page_is_self_contained_and_has_lanes() {
        let html = render_html(&zk_story(), "zk story", &[hl()]);
        assert!(!html.contains("http://") && !html.contains("https://"));
        for lane in ["zk1", "zk2", "zk3", "network", "client-1", "client-2"] {
            assert!(
                html.contains(&format!("class=\"lane node\" data-lane=\"{lane}\""))
                    || html.contains(&format!("data-lane=\"{lane}\"")),
                "{lane}"
            );
        }
        assert_eq!(html.matches("id=\"violation\"").count(), 1);
        assert!(html.contains("class=\"op ok hl\" id=\"op-2\""));
        assert!(html.contains("read of x saw &lt;stale&gt; value"));
        assert!(html.contains("op #99: not in this history"));
        assert!(html.contains("class=\"ev violation-event\" id=\"ev-16\""));
        assert!(html.contains("id=\"mark-1\""));
        assert!(html.contains("id=\"chart-zk-leader\""));
        assert!(!html.contains("chart-isr"));
    }

    #[test]
    fn no_violation_element_without_highlights() {
        let html = render_html(&zk_story(), "t", &[]);
        assert!(!html.contains("id=\"violation\""));
    }

    #[test]
    fn text_from_the_history_is_escaped() {
        let mut h = zk_story();
        h.ops.push(op(
            3,
            Call::Create {
                path: "/<script>alert(1)</script>".into(),
                data: Some("\"'&".into()),
                ephemeral: false,
                sequential: false,
            },
            100,
            Some(120),
            Outcome::Ok,
            Ret::Path {
                path: "/<b>".into(),
            },
        ));
        h.events.push(crate::report::narrate::tests::ev(
            50,
            "<img src=x>",
            SimEvent::NodePaused,
        ));
        let html = render_html(&h, "<title>", &[]);
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("data-lane=\"&lt;img src=x&gt;\""));
    }

    #[test]
    fn kafka_lanes_and_charts() {
        let html = render_html(&kafka_story(), "kafka", &[]);
        assert!(html.contains("data-lane=\"kafka1\""));
        assert!(html.contains("class=\"controller\""));
        assert!(html.contains("class=\"pleader\""));
        assert!(html.contains("id=\"chart-isr\""));
        assert!(html.contains("id=\"chart-under-replicated\""));
        assert!(html.contains("id=\"chart-writes\""));
    }

    #[test]
    fn big_history_is_aggregated_and_bounded() {
        let mut h = History::new();
        for i in 0..10_000u64 {
            let outcome = if i % 97 == 0 {
                Outcome::Info
            } else {
                Outcome::Ok
            };
            h.ops.push(op(
                i % 10,
                Call::Write {
                    key: "x".into(),
                    value: i as i64,
                },
                i * 3,
                Some(i * 3 + 2),
                outcome,
                Ret::None,
            ));
        }
        let html = render_html(
            &h,
            "big",
            &[Highlight {
                checker: None,
                label: "x".into(),
                ops: vec![5000],
                events: vec![],
                at: None,
            }],
        );
        assert!(html.contains("id=\"aggregation-note\""));
        assert!(html.contains("id=\"op-5000\""));
        assert!(!html.contains("id=\"op-5001\""));
        assert!(html.len() < 1_000_000, "page is {} bytes", html.len());
        assert_eq!(html.matches("data-lane=\"client-").count(), 10);
    }

    /// Definite answers are the system working; no answer is unavailability.
    #[test]
    fn op_classes_follow_the_answer() {
        let with = |outcome: Outcome, ret: Ret| {
            let o = op(1, Call::Read { key: "x".into() }, 0, Some(1), outcome, ret);
            OpClass::of(&o)
        };
        let err = |name: &str| Ret::Error {
            code: -1,
            name: name.into(),
        };
        assert_eq!(with(Outcome::Ok, Ret::None), OpClass::Ok);
        assert_eq!(
            with(Outcome::Info, err("ConnectionLoss")),
            OpClass::Unavailable
        );
        assert_eq!(with(Outcome::Info, Ret::None), OpClass::Unavailable);
        for definite in [
            "NoNode",
            "NodeExists",
            "BadVersion",
            "NotEmpty",
            "FENCED_LEADER_EPOCH",
        ] {
            assert_eq!(
                with(Outcome::Fail, err(definite)),
                OpClass::Definite,
                "{definite}"
            );
        }
        for unavailable in [
            "ConnectionLoss",
            "SessionExpired",
            "NOT_LEADER_FOR_PARTITION",
            "NOT_ENOUGH_REPLICAS",
        ] {
            assert_eq!(
                with(Outcome::Fail, err(unavailable)),
                OpClass::Unavailable,
                "{unavailable}"
            );
        }
        assert_eq!(with(Outcome::Fail, Ret::None), OpClass::Unavailable);
        assert_eq!(
            with(
                Outcome::Fail,
                Ret::Multi {
                    results: vec![err("NoNode")]
                }
            ),
            OpClass::Definite
        );
    }

    /// Aggregated lanes: a bucket is grey if anything in it went unanswered, blue only if
    /// most of it was refused, else green.
    #[test]
    fn aggregated_buckets_are_coloured_by_what_matters() {
        let mut h = History::new();
        let err = |name: &str| Ret::Error {
            code: -1,
            name: name.into(),
        };
        for i in 0..(OP_BARS_MAX as u64 + 1) {
            // Process 0: one NoNode in ten (green); process 1: all NoNode (blue);
            // process 2: ok with one ConnectionLoss at the start (one grey bucket).
            let (outcome, ret) = match (i % 3, i) {
                (0, i) if i % 30 == 0 => (Outcome::Fail, err("NoNode")),
                (1, _) => (Outcome::Fail, err("NoNode")),
                (2, 2) => (Outcome::Fail, err("ConnectionLoss")),
                _ => (Outcome::Ok, Ret::None),
            };
            h.ops.push(op(
                i % 3,
                Call::Read { key: "x".into() },
                i,
                Some(i + 1),
                outcome,
                ret,
            ));
        }
        let html = render_html(&h, "agg", &[]);
        let lane = |p: u64| {
            let from = html
                .find(&format!("data-lane=\"client-{p}\""))
                .expect("lane");
            let to = from + html[from..].find("</div></div>").expect("lane ends");
            html[from..to].to_string()
        };
        assert!(!lane(0).contains("agg definite") && !lane(0).contains("agg unavailable"));
        assert!(lane(0).contains("agg ok"));
        assert!(!lane(1).contains("agg ok") && lane(1).contains("agg definite"));
        assert_eq!(lane(2).matches("agg unavailable").count(), 1);
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            render_html(&kafka_story(), "k", &[hl()]),
            render_html(&kafka_story(), "k", &[hl()])
        );
    }
}
