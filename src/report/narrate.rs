//! A plain-text narration of a recorded run, in simulated time: faults, elections, quorum
//! lost and regained, session expiry, Kafka controller and partition changes, and a summary
//! per client.
//!
//! The narration is derived from the [`History`] alone. Facts recorded by several servers
//! (an election decided on three servers, a session expiry applied on three) become one
//! line; `verbose` adds one line for every recorded event.

use super::names::{fmt_dur_ns, fmt_session, fmt_span, fmt_zxid, Names};
use crate::history::event::SyncMode;
use crate::history::{Call, Event, History, KafkaEvent, Op, Outcome, Ret, ZkEvent, ZkRole};
use crate::history::{SimEvent, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// At most this many unavailable windows are listed per client; the rest are counted.
const WINDOWS_PER_CLIENT_MAX: usize = 5;

/// Narrates `history` as text, one line per significant event, then one line per client.
///
/// Guarantees: pure and deterministic (same history, same text); every line of the timeline
/// starts with the simulated time; an election decided by several servers in the same round
/// for the same leader is one line, and so is a session closed on several servers. With
/// `verbose`, every event record also gets its own line (`node: description`).
pub fn narrate(history: &History, verbose: bool) -> String {
    let names = Names::from_history(history);
    let mut out = String::new();
    out.push_str("Timeline (simulated time):\n");
    let lines = timeline(history, &names, verbose);
    if lines.is_empty() {
        out.push_str("  (no events recorded)\n");
    }
    for (at, text) in lines {
        let _ = writeln!(out, "{:>9}  {text}", at.to_string());
    }
    out.push_str("Clients:\n");
    let clients = client_summaries(history);
    if clients.is_empty() {
        out.push_str("  (no client operations)\n");
    }
    for line in clients {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// One election as several servers saw it: the servers that decided for `leader` in `round`.
struct ElectionGroup {
    leader: u64,
    round: u64,
    first: usize,
    deciders: BTreeSet<String>,
    votes: BTreeMap<u64, u64>,
    took_ms_max: u64,
    /// The epoch the leader then proposed or established, if it got that far.
    epoch: Option<u32>,
    established: bool,
}

/// Groups `ElectionDecided` records: decisions for the same leader in the same round belong
/// to one election until that leader is established (or crashes); a later decision for it
/// is a server joining an existing leader, its own group.
fn election_groups(h: &History, names: &Names) -> Vec<ElectionGroup> {
    let mut groups: Vec<ElectionGroup> = Vec::new();
    let mut open: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for (i, r) in h.events.iter().enumerate() {
        match &r.event {
            Event::Zk(ZkEvent::ElectionDecided {
                leader,
                round,
                votes,
                took_ms,
                ..
            }) => {
                let k = *open.entry((*leader, *round)).or_insert_with(|| {
                    groups.push(ElectionGroup {
                        leader: *leader,
                        round: *round,
                        first: i,
                        deciders: BTreeSet::new(),
                        votes: BTreeMap::new(),
                        took_ms_max: 0,
                        epoch: None,
                        established: false,
                    });
                    groups.len() - 1
                });
                let g = &mut groups[k];
                g.deciders.insert(r.node.clone());
                // The leader's own view wins; otherwise later views fill in missing voters.
                let own = r.node == names.sid(*leader);
                for (voter, proposed) in votes {
                    if own {
                        g.votes.insert(*voter, *proposed);
                    } else {
                        g.votes.entry(*voter).or_insert(*proposed);
                    }
                }
                g.took_ms_max = g.took_ms_max.max(*took_ms);
            }
            Event::Zk(ZkEvent::LeaderEstablished { .. })
            | Event::Sim(SimEvent::NodeCrashed { .. }) => {
                open.retain(|(leader, _), _| names.sid(*leader) != r.node);
            }
            _ => {}
        }
    }
    // What became of each election: scan the leader's own records after the group began
    // until it went back to LOOKING or crashed.
    for g in groups.iter_mut() {
        let leader_node = names.sid(g.leader);
        for r in h.events[g.first..].iter().filter(|r| r.node == leader_node) {
            match &r.event {
                Event::Zk(ZkEvent::EpochProposed { epoch, .. }) => g.epoch = Some(*epoch),
                Event::Zk(ZkEvent::LeaderEstablished { epoch, .. }) => {
                    g.epoch = Some(*epoch);
                    g.established = true;
                    break;
                }
                Event::Zk(ZkEvent::RoleChanged {
                    role: ZkRole::Looking,
                    ..
                }) if g.epoch.is_some() => break,
                Event::Sim(SimEvent::NodeCrashed { .. }) => break,
                _ => {}
            }
        }
    }
    groups
}

/// The ZooKeeper service as the narration tracks it: each server's role (`None`: down) and
/// the established leader, if any.
struct Quorum {
    roles: BTreeMap<String, Option<ZkRole>>,
    serving: Option<(String, u32)>,
    lost_at: Option<SimTime>,
}

impl Quorum {
    fn majority(&self) -> usize {
        self.roles.len() / 2 + 1
    }

    fn in_quorum(&self) -> usize {
        self.roles
            .values()
            .filter(|r| matches!(r, Some(ZkRole::Leading | ZkRole::Following)))
            .count()
    }

    fn roles_text(&self) -> String {
        let parts: Vec<String> = self
            .roles
            .iter()
            .map(|(n, r)| {
                let role = match r {
                    None => "down",
                    Some(ZkRole::Looking) => "looking",
                    Some(ZkRole::Following) => "following",
                    Some(ZkRole::Leading) => "leading",
                    Some(ZkRole::ReadOnly) => "read-only",
                };
                format!("{n} {role}")
            })
            .collect();
        parts.join(", ")
    }

    /// Ends service if `reason` applies; returns the narration line.
    fn lose(&mut self, at: SimTime, reason: String) -> Option<String> {
        let (leader, epoch) = self.serving.take()?;
        self.lost_at = Some(at);
        Some(format!(
            "ZooKeeper quorum lost (leader {leader}, epoch {epoch}): {reason}; now {}",
            self.roles_text()
        ))
    }

    fn check_majority(&mut self, at: SimTime) -> Option<String> {
        if self.serving.is_some() && self.in_quorum() < self.majority() {
            let reason = format!(
                "fewer than {} of {} servers leading or following",
                self.majority(),
                self.roles.len()
            );
            return self.lose(at, reason);
        }
        None
    }
}

/// Per-partition state the narration tracks, to print only changes.
#[derive(Clone, PartialEq)]
struct PartState {
    leader: i64,
    leader_epoch: i32,
    isr: Vec<u32>,
}

fn list_brokers(names: &Names, isr: &[u32]) -> String {
    let v: Vec<String> = isr.iter().map(|b| names.broker(*b as i64)).collect();
    format!("[{}]", v.join(", "))
}

fn timeline(h: &History, names: &Names, verbose: bool) -> Vec<(SimTime, String)> {
    let groups = election_groups(h, names);
    let first_of_group: BTreeMap<usize, &ElectionGroup> =
        groups.iter().map(|g| (g.first, g)).collect();
    let mut lines: Vec<(SimTime, String)> = Vec::new();
    let mut quorum = Quorum {
        roles: names.zk_nodes.iter().map(|n| (n.clone(), None)).collect(),
        serving: None,
        lost_at: None,
    };
    let mut down_since: BTreeMap<String, SimTime> = BTreeMap::new();
    let mut paused_since: BTreeMap<String, SimTime> = BTreeMap::new();
    let mut slow_disk_since: BTreeMap<String, SimTime> = BTreeMap::new();
    let mut net_split_since: Option<SimTime> = None;
    let mut sessions_closed: BTreeSet<i64> = BTreeSet::new();
    let mut parts: BTreeMap<(String, u32), PartState> = BTreeMap::new();
    let mut pending_starts: Option<(SimTime, Vec<String>)> = None;

    let flush_starts = |pending: &mut Option<(SimTime, Vec<String>)>,
                        lines: &mut Vec<(SimTime, String)>| {
        if let Some((at, nodes)) = pending.take() {
            lines.push((at, format!("started {}", nodes.join(", "))));
        }
    };

    for (i, r) in h.events.iter().enumerate() {
        let at = r.at;
        let node = r.node.as_str();
        if verbose {
            flush_starts(&mut pending_starts, &mut lines);
            lines.push((at, format!("{node}: {}", describe(&r.event, names))));
        }
        let mut emit: Vec<String> = Vec::new();
        match &r.event {
            Event::Sim(e) => match e {
                SimEvent::NodeStarted { incarnation } => {
                    if *incarnation <= 1 && !verbose {
                        match &mut pending_starts {
                            Some((t, nodes)) if *t == at => nodes.push(node.to_string()),
                            _ => {
                                flush_starts(&mut pending_starts, &mut lines);
                                pending_starts = Some((at, vec![node.to_string()]));
                            }
                        }
                    } else if *incarnation > 1 {
                        let down = down_since
                            .remove(node)
                            .map(|t| format!(", down {}", fmt_span(t, at)));
                        emit.push(format!(
                            "{node} restarted (start #{incarnation}{})",
                            down.unwrap_or_default()
                        ));
                    }
                }
                SimEvent::NodeCrashed {
                    torn,
                    disk_lost,
                    page_cache_kept,
                } => {
                    down_since.insert(node.to_string(), at);
                    let how = match (page_cache_kept, torn, disk_lost) {
                        (true, _, _) => " (process killed, page cache kept)",
                        (false, _, true) => " and lost its disk",
                        (false, true, false) => " in a power loss, with a torn last write",
                        (false, false, false) => " in a power loss (unsynced writes lost)",
                    };
                    emit.push(format!("{node} crashed{how}"));
                }
                SimEvent::NodePaused => {
                    paused_since.insert(node.to_string(), at);
                    emit.push(format!("{node} paused"));
                }
                SimEvent::NodeResumed => {
                    let took = paused_since
                        .remove(node)
                        .map(|t| format!(" after {}", fmt_span(t, at)));
                    emit.push(format!("{node} resumed{}", took.unwrap_or_default()));
                }
                SimEvent::Partitioned { groups } => {
                    net_split_since.get_or_insert(at);
                    emit.push(format!("network partitioned: {}", fmt_groups(groups)));
                }
                SimEvent::LinkCut { from, to } => {
                    net_split_since.get_or_insert(at);
                    emit.push(format!(
                        "link cut: {from} -> {to} dropped ({to} -> {from} still flows)"
                    ));
                }
                SimEvent::Healed => {
                    let took = net_split_since
                        .take()
                        .map(|t| format!(" after {}", fmt_span(t, at)));
                    emit.push(format!("network healed{}", took.unwrap_or_default()));
                }
                SimEvent::NetChanged { .. } | SimEvent::ClockChanged { .. } => {
                    emit.push(format!(
                        "{}{}",
                        node_prefix(node),
                        describe(&r.event, names)
                    ));
                }
                SimEvent::DiskChanged {
                    fsync_min_us,
                    fsync_max_us,
                    restored,
                } => {
                    let latency = fmt_us_range(*fsync_min_us, *fsync_max_us);
                    if *restored {
                        let took = slow_disk_since
                            .remove(node)
                            .map(|t| format!(" after {}", fmt_span(t, at)));
                        emit.push(format!(
                            "{node}'s disk back to its normal speed{} (each fsync {latency})",
                            took.unwrap_or_default()
                        ));
                    } else {
                        slow_disk_since.entry(node.to_string()).or_insert(at);
                        emit.push(format!("{node}'s disk slowed: each fsync takes {latency}"));
                    }
                }
                SimEvent::Note { text } => emit.push(format!("note: {text}")),
            },
            Event::Zk(e) => match e {
                ZkEvent::ElectionDecided { .. } => {
                    if let Some(g) = first_of_group.get(&i) {
                        emit.push(election_line(g, &quorum, names));
                    }
                }
                ZkEvent::LeaderEstablished { epoch, quorum: q } => {
                    let members: Vec<String> = q.iter().map(|s| names.sid(*s)).collect();
                    let mut text = format!(
                        "{node} established as leader of epoch {epoch} (quorum {})",
                        members.join(", ")
                    );
                    if quorum.serving.is_none() {
                        if let Some(lost) = quorum.lost_at.take() {
                            let _ = write!(
                                text,
                                "; ZooKeeper quorum regained after {} without one",
                                fmt_span(lost, at)
                            );
                        }
                    }
                    quorum.serving = Some((node.to_string(), *epoch));
                    emit.push(text);
                }
                ZkEvent::RoleChanged { role, epoch } => {
                    quorum.roles.insert(node.to_string(), Some(*role));
                    if *role == ZkRole::ReadOnly {
                        emit.push(format!("{node} serving read-only clients (epoch {epoch})"));
                    }
                    let leader_left = matches!(&quorum.serving, Some((l, _)) if l == node)
                        && *role != ZkRole::Leading;
                    let lost = if leader_left {
                        quorum.lose(at, format!("leader {node} went {}", role_word(*role)))
                    } else {
                        quorum.check_majority(at)
                    };
                    emit.extend(lost);
                }
                ZkEvent::SteppedDown { epoch, reason } => {
                    emit.push(format!("{node} stopped leading epoch {epoch}: {reason}"));
                }
                ZkEvent::SessionClosed {
                    session,
                    expired,
                    ephemerals,
                } if sessions_closed.insert(*session) => {
                    let how = if *expired {
                        "expired"
                    } else {
                        "closed by its client"
                    };
                    let eph = if ephemerals.is_empty() {
                        String::new()
                    } else {
                        format!("; ephemerals removed: {}", ephemerals.join(", "))
                    };
                    emit.push(format!("session {} {how}{eph}", fmt_session(*session)));
                }
                ZkEvent::Recovered { last_zxid, .. } if *last_zxid > 0 => {
                    emit.push(format!("{node}: {}", describe(&r.event, names)));
                }
                ZkEvent::RecoveryRefused { .. } => {
                    emit.push(format!("{node}: {}", describe(&r.event, names)));
                }
                ZkEvent::SyncSent {
                    mode: SyncMode::Trunc | SyncMode::Snap,
                    ..
                }
                | ZkEvent::Truncated { .. } => {
                    emit.push(format!("{node}: {}", describe(&r.event, names)));
                }
                _ => {}
            },
            Event::Kafka(e) => match e {
                KafkaEvent::BrokerRegistered { .. }
                | KafkaEvent::ControllerElected { .. }
                | KafkaEvent::ControllerResigned { .. }
                | KafkaEvent::RequestRejected { .. }
                | KafkaEvent::LogTruncated { .. } => emit.push(describe(&r.event, names)),
                KafkaEvent::PartitionStateWritten {
                    topic,
                    partition,
                    leader,
                    leader_epoch,
                    isr,
                    by,
                    ..
                } => {
                    let new = PartState {
                        leader: *leader as i64,
                        leader_epoch: *leader_epoch,
                        isr: isr.clone(),
                    };
                    let by = format!("written by {}", names.broker(*by as i64));
                    emit.extend(partition_change(
                        &mut parts, names, topic, *partition, new, &by,
                    ));
                }
                KafkaEvent::IsrChanged {
                    topic,
                    partition,
                    leader,
                    leader_epoch,
                    isr,
                } => {
                    let new = PartState {
                        leader: *leader as i64,
                        leader_epoch: *leader_epoch,
                        isr: isr.clone(),
                    };
                    emit.extend(partition_change(
                        &mut parts,
                        names,
                        topic,
                        *partition,
                        new,
                        "by the leader",
                    ));
                }
                _ => {}
            },
        }
        // A crashed ZooKeeper server holds no role; that may end the service.
        if let Event::Sim(SimEvent::NodeCrashed { .. }) = &r.event {
            if quorum.roles.contains_key(node) {
                quorum.roles.insert(node.to_string(), None);
                let lost = if matches!(&quorum.serving, Some((l, _)) if l == node) {
                    quorum.lose(at, format!("leader {node} crashed"))
                } else {
                    quorum.check_majority(at)
                };
                emit.extend(lost);
            }
        }
        for text in emit {
            flush_starts(&mut pending_starts, &mut lines);
            lines.push((at, if verbose { format!("=> {text}") } else { text }));
        }
    }
    flush_starts(&mut pending_starts, &mut lines);
    lines
}

fn node_prefix(node: &str) -> String {
    if node == "world" {
        String::new()
    } else {
        format!("{node}: ")
    }
}

fn role_word(role: ZkRole) -> &'static str {
    match role {
        ZkRole::Looking => "looking",
        ZkRole::Following => "following",
        ZkRole::Leading => "leading",
        ZkRole::ReadOnly => "read-only",
    }
}

fn fmt_groups(groups: &[Vec<String>]) -> String {
    let g: Vec<String> = groups
        .iter()
        .map(|g| format!("{{{}}}", g.join(", ")))
        .collect();
    g.join(" | ")
}

fn election_line(g: &ElectionGroup, quorum: &Quorum, names: &Names) -> String {
    let (leader, round) = (g.leader, g.round);
    let leader_name = names.sid(leader);
    let votes: Vec<String> = g
        .votes
        .iter()
        .map(|(v, p)| format!("{}->{}", names.sid(*v), names.sid(*p)))
        .collect();
    // A lone server deciding for a leader that is already serving is a rejoin, not an election.
    let joined = matches!(&quorum.serving, Some((l, _)) if *l == leader_name)
        && !g.deciders.contains(&leader_name);
    if joined {
        let who: Vec<&str> = g.deciders.iter().map(String::as_str).collect();
        return format!(
            "{} decided to follow {leader_name} (round {round}; took {}ms)",
            who.join(", "),
            g.took_ms_max
        );
    }
    let what = match (g.epoch, g.established) {
        (Some(e), true) => format!("elected leader of epoch {e}"),
        (Some(e), false) => format!("elected leader, proposed epoch {e}, never established"),
        (None, _) => "elected leader, never proposed an epoch".to_string(),
    };
    format!(
        "{leader_name} {what} (round {round}; votes: {}; took {}ms)",
        votes.join(", "),
        g.took_ms_max
    )
}

fn partition_change(
    parts: &mut BTreeMap<(String, u32), PartState>,
    names: &Names,
    topic: &str,
    partition: u32,
    new: PartState,
    by: &str,
) -> Option<String> {
    let key = (topic.to_string(), partition);
    let old = parts.insert(key, new.clone());
    let tp = format!("{topic}/{partition}");
    match old {
        Some(old) if old.leader == new.leader && old.isr == new.isr => None,
        Some(old) if old.leader == new.leader => Some(format!(
            "{tp}: ISR {} -> {} (leader {}, leader epoch {}; {by})",
            list_brokers(names, &old.isr),
            list_brokers(names, &new.isr),
            names.broker(new.leader),
            new.leader_epoch
        )),
        Some(old) => Some(format!(
            "{tp}: leader {} -> {} (leader epoch {}, ISR {}; {by})",
            names.broker(old.leader),
            names.broker(new.leader),
            new.leader_epoch,
            list_brokers(names, &new.isr)
        )),
        None => Some(format!(
            "{tp}: leader {} (leader epoch {}, ISR {}; {by})",
            names.broker(new.leader),
            new.leader_epoch,
            list_brokers(names, &new.isr)
        )),
    }
}

/// One line describing any event on its own (used for verbose output and rare events).
pub(crate) fn describe(e: &Event, names: &Names) -> String {
    match e {
        Event::Sim(e) => match e {
            SimEvent::NodeStarted { incarnation } => format!("started (start #{incarnation})"),
            SimEvent::NodeCrashed {
                torn,
                disk_lost,
                page_cache_kept,
            } => format!(
                "crashed (page cache kept {page_cache_kept}, torn {torn}, disk lost {disk_lost})"
            ),
            SimEvent::NodePaused => "paused".into(),
            SimEvent::NodeResumed => "resumed".into(),
            SimEvent::Partitioned { groups } => format!("network partitioned: {}", fmt_groups(groups)),
            SimEvent::LinkCut { from, to } => format!("link cut: {from} -> {to}"),
            SimEvent::Healed => "network healed".into(),
            SimEvent::NetChanged { loss_permille, latency_min_us, latency_max_us, .. } => format!(
                "network changed: loss {}.{}%, latency {}..{}",
                loss_permille / 10,
                loss_permille % 10,
                fmt_us(*latency_min_us),
                fmt_us(*latency_max_us)
            ),
            SimEvent::ClockChanged { offset_ns, drift_ppm } => {
                let sign = if *offset_ns < 0 { "-" } else { "+" };
                format!("clock offset {sign}{}, drift {drift_ppm:+}ppm", fmt_dur_ns(offset_ns.unsigned_abs()))
            }
            SimEvent::DiskChanged { fsync_min_us, fsync_max_us, restored } => format!(
                "disk {}: each fsync {}",
                if *restored { "restored" } else { "slowed" },
                fmt_us_range(*fsync_min_us, *fsync_max_us)
            ),
            SimEvent::Note { text } => format!("note: {text}"),
        },
        Event::Zk(e) => match e {
            ZkEvent::RecoveryRefused { last_logged } => format!(
                "refused to start: no snapshot found, but the log holds transactions up to zxid {} (ZooKeeper exits: \"Something is broken!\", ZOOKEEPER-2325)",
                fmt_zxid(*last_logged)
            ),
            ZkEvent::Recovered { last_zxid, snapshot_zxid, accepted_epoch, current_epoch, log_records } => format!(
                "recovered to zxid {} (snapshot {}, {log_records} log records, accepted epoch {accepted_epoch}, current epoch {current_epoch})",
                fmt_zxid(*last_zxid),
                fmt_zxid(*snapshot_zxid)
            ),
            ZkEvent::RoleChanged { role, epoch } => format!("now {} (epoch {epoch})", role_word(*role)),
            ZkEvent::ElectionDecided { leader, zxid, round, peer_epoch, votes, took_ms } => {
                let v: Vec<String> = votes.iter().map(|(a, b)| format!("{}->{}", names.sid(*a), names.sid(*b))).collect();
                format!(
                    "election decided for {} (zxid {}, round {round}, peer epoch {peer_epoch}; votes: {}; took {took_ms}ms)",
                    names.sid(*leader),
                    fmt_zxid(*zxid),
                    v.join(", ")
                )
            }
            ZkEvent::VotesResent { round, next_in_ms } => {
                format!("no election decision yet: re-sent its vote (round {round}); next resend in {next_in_ms}ms")
            }
            ZkEvent::EpochProposed { epoch, quorum } => format!("proposed epoch {epoch} (from {})", sids(names, quorum)),
            ZkEvent::EpochAccepted { epoch } => format!("accepted epoch {epoch}"),
            ZkEvent::LeaderEstablished { epoch, quorum } => {
                format!("established as leader of epoch {epoch} (quorum {})", sids(names, quorum))
            }
            ZkEvent::SyncSent { follower, mode, follower_zxid, leader_zxid, trunc_to } => {
                let m = match mode {
                    SyncMode::Diff => "DIFF",
                    SyncMode::Trunc => "TRUNC",
                    SyncMode::Snap => "SNAP",
                };
                let t = trunc_to.map(|z| format!(", truncate to {}", fmt_zxid(z))).unwrap_or_default();
                format!(
                    "sent {m} to {} (follower at {}, leader at {}{t})",
                    names.sid(*follower),
                    fmt_zxid(*follower_zxid),
                    fmt_zxid(*leader_zxid)
                )
            }
            ZkEvent::Truncated { to } => format!("truncated its log to {}", fmt_zxid(*to)),
            ZkEvent::SnapLoaded { zxid } => format!("loaded snapshot at {}", fmt_zxid(*zxid)),
            ZkEvent::Proposed { zxid, txn, .. } => format!("proposed {} {txn}", fmt_zxid(*zxid)),
            ZkEvent::Logged { zxid } => format!("logged up to {}", fmt_zxid(*zxid)),
            ZkEvent::Committed { zxid, .. } => format!("committed {}", fmt_zxid(*zxid)),
            ZkEvent::Delivered { zxid, .. } => format!("delivered {}", fmt_zxid(*zxid)),
            ZkEvent::FinalTree { zxid, digest } => {
                format!("ended serving at {} with tree digest {digest:016x}", fmt_zxid(*zxid))
            }
            ZkEvent::SteppedDown { epoch, reason } => format!("stopped leading epoch {epoch}: {reason}"),
            ZkEvent::SessionCreated { session, timeout_ms } => {
                format!("session {} created (timeout {timeout_ms}ms)", fmt_session(*session))
            }
            ZkEvent::SessionClosed { session, expired, ephemerals } => format!(
                "session {} {} (ephemerals removed: [{}])",
                fmt_session(*session),
                if *expired { "expired" } else { "closed" },
                ephemerals.join(", ")
            ),
            ZkEvent::WatchFired { session, path, event, zxid } => {
                format!("watch fired for session {}: {event} {path} at {}", fmt_session(*session), fmt_zxid(*zxid))
            }
            ZkEvent::SnapshotTaken { zxid } => format!("took a snapshot at {}", fmt_zxid(*zxid)),
            ZkEvent::SessionDeadline { session, touch_ms, deadline_ms, .. } => format!(
                "session {} touched at {touch_ms}ms (leader clock): expires at {deadline_ms}ms",
                fmt_session(*session)
            ),
            ZkEvent::SessionExpiring { session, leader_ms, .. } => {
                format!("session {} expiring at {leader_ms}ms (leader clock)", fmt_session(*session))
            }
            ZkEvent::SessionEnded { session, zxid, expired, .. } => format!(
                "session {} {} at {}",
                fmt_session(*session),
                if *expired { "expiry committed" } else { "close committed" },
                fmt_zxid(*zxid)
            ),
            ZkEvent::FinalEphemerals { ephemerals, sessions, .. } => {
                format!("ends with {} ephemerals and {} sessions", ephemerals.len(), sessions.len())
            }
            ZkEvent::WatchesRestored { session, zxid, data, exist, child } => format!(
                "session {} re-registered {} watch(es) at {}",
                fmt_session(*session),
                data.len() + exist.len() + child.len(),
                fmt_zxid(*zxid)
            ),
            ZkEvent::WatchSet { session, path, watch, zxid } => {
                format!("session {} set a {watch} watch on {path} at {}", fmt_session(*session), fmt_zxid(*zxid))
            }
            ZkEvent::WatchDelivered { session, path, event, zxid } => {
                format!("session {} got {event} {path} ({})", fmt_session(*session), fmt_zxid(*zxid))
            }
            ZkEvent::ClientState { session, state, server } => {
                format!("session {} {state} {server}", fmt_session(*session))
            }
            ZkEvent::PingAnswered { session, server, .. } => {
                format!("session {} ping answered by {server}", fmt_session(*session))
            }
            ZkEvent::LockAcquired { session, node, zxid } => {
                format!("session {} holds the lock with {node} (lowest at {})", fmt_session(*session), fmt_zxid(*zxid))
            }
            ZkEvent::Ignored { msg, from, reason } => format!("ignored {msg} from {}: {reason}", names.sid(*from)),
            ZkEvent::ProtocolError { msg, from, reason } => format!("protocol error: {msg} from {}: {reason}", names.sid(*from)),
        },
        Event::Kafka(e) => match e {
            KafkaEvent::BrokerRegistered { broker, broker_epoch } => {
                format!("{} registered (broker epoch {})", names.broker(*broker as i64), fmt_zxid(*broker_epoch))
            }
            KafkaEvent::ControllerElected { broker, epoch } => {
                format!("{} became controller (controller epoch {epoch})", names.broker(*broker as i64))
            }
            KafkaEvent::ControllerResigned { broker, epoch, reason } => {
                format!("{} resigned as controller of epoch {epoch}: {reason}", names.broker(*broker as i64))
            }
            KafkaEvent::PartitionStateWritten { topic, partition, leader, leader_epoch, isr, controller_epoch, by } => {
                format!(
                    "{topic}/{partition} state written by {}: leader {}, leader epoch {leader_epoch}, ISR {}, controller epoch {controller_epoch}",
                    names.broker(*by as i64),
                    names.broker(*leader as i64),
                    list_brokers(names, isr)
                )
            }
            KafkaEvent::LeaderAndIsrApplied { broker, topic, partition, leader, leader_epoch, isr } => format!(
                "{} applied LeaderAndIsr for {topic}/{partition}: leader {}, leader epoch {leader_epoch}, ISR {}",
                names.broker(*broker as i64),
                names.broker(*leader as i64),
                list_brokers(names, isr)
            ),
            KafkaEvent::RequestRejected { broker, request, reason } => {
                format!("{} rejected {request}: {reason}", names.broker(*broker as i64))
            }
            KafkaEvent::IsrChanged { topic, partition, leader, leader_epoch, isr } => format!(
                "{topic}/{partition} ISR now {} (leader {}, leader epoch {leader_epoch})",
                list_brokers(names, isr),
                names.broker(*leader as i64)
            ),
            KafkaEvent::LogTruncated { broker, topic, partition, to_offset, reason } => format!(
                "{} truncated {topic}/{partition} to offset {to_offset}: {reason}",
                names.broker(*broker as i64)
            ),
            KafkaEvent::LogRecovered { broker, topic, partition, leo, hw } => format!(
                "{} recovered {topic}/{partition} from disk: {leo} records, checkpointed high watermark {hw}",
                names.broker(*broker as i64)
            ),
            KafkaEvent::HighWatermark { broker, topic, partition, hw } => {
                format!("{} {topic}/{partition} high watermark {hw}", names.broker(*broker as i64))
            }
            KafkaEvent::ReplicaLog { broker, topic, partition, hw, records } => format!(
                "{} {topic}/{partition} final log: {} records, high watermark {hw}",
                names.broker(*broker as i64),
                records.len()
            ),
            KafkaEvent::PartitionClaimed { group, consumer, topic, partition, generation } => {
                format!("group {group} generation {generation}: {consumer} claimed {topic}/{partition}")
            }
            KafkaEvent::PartitionReleased { group, consumer, topic, partition, generation } => {
                format!("group {group} generation {generation}: {consumer} released {topic}/{partition}")
            }
        },
    }
}

fn sids(names: &Names, s: &[u64]) -> String {
    let v: Vec<String> = s.iter().map(|s| names.sid(*s)).collect();
    v.join(", ")
}

/// `"200ms"` for a fixed latency, `"50ms..400ms"` for a range.
fn fmt_us_range(min: u64, max: u64) -> String {
    if min >= max {
        fmt_us(min)
    } else {
        format!("{}..{}", fmt_us(min), fmt_us(max))
    }
}

fn fmt_us(us: u64) -> String {
    if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

/// Error names that mean "the service could not answer", not "the answer is no".
const UNAVAILABLE_ERRORS: &[&str] = &[
    "ConnectionLoss",
    "OperationTimeout",
    "SessionExpired",
    "SessionMoved",
    "NotReadOnly",
    "NOT_LEADER_OR_FOLLOWER",
    "NOT_LEADER_FOR_PARTITION",
    "LEADER_NOT_AVAILABLE",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
    "NOT_CONTROLLER",
    "COORDINATOR_NOT_AVAILABLE",
];

/// True if `op` shows the service unavailable: its outcome is unknown, or it failed with an
/// error that means no server could answer.
pub(crate) fn is_unavailable(op: &Op) -> bool {
    match op.outcome {
        Outcome::Info => true,
        Outcome::Fail => {
            matches!(&op.ret, Ret::Error { name, .. } if UNAVAILABLE_ERRORS.contains(&name.as_str()))
        }
        Outcome::Ok => false,
    }
}

/// Windows in which a process saw only unavailable ops: from the first such op's invocation
/// to the last one's completion; `None` as the end if the last one never completed (the
/// process saw nothing more in the run).
pub(crate) fn unavailable_windows(ops: &[&Op]) -> Vec<(SimTime, Option<SimTime>)> {
    let mut out = Vec::new();
    let mut open: Option<(SimTime, Option<SimTime>)> = None;
    for op in ops {
        if is_unavailable(op) {
            open = Some(match open {
                Some((s, Some(e))) => (s, op.complete.map(|c| c.max(e))),
                Some((s, None)) => (s, None),
                None => (op.invoke, op.complete),
            });
        } else if let Some(w) = open.take() {
            out.push(w);
        }
    }
    out.extend(open);
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Who a summary line is about: a client process, or one session of a Kafka-side
/// process's own ZooKeeper traffic (recorded under several process ids, see
/// [`crate::zk::client::ProcessIds`]), which reads better as one line per session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ClientKey {
    Process(u64),
    SystemSession(Option<i64>),
}

fn client_summaries(h: &History) -> Vec<String> {
    // The node whose ZooKeeper client recorded each session's states.
    let mut owner: BTreeMap<i64, &str> = BTreeMap::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::ClientState { session, .. }) = &r.event {
            if *session != 0 {
                owner.entry(*session).or_insert(r.node.as_str());
            }
        }
    }
    let mut groups: BTreeMap<ClientKey, Vec<&Op>> = BTreeMap::new();
    for op in &h.ops {
        let key = if crate::kafka::cluster::is_kafka_zk_process(op.process) {
            ClientKey::SystemSession(op.session)
        } else {
            ClientKey::Process(op.process)
        };
        groups.entry(key).or_default().push(op);
    }
    let mut lines = Vec::new();
    for (key, ops) in groups {
        let count = |o: Outcome| ops.iter().filter(|op| op.outcome == o).count();
        let writes = ops.iter().filter(|op| op.call.is_write()).count();
        let who = match key {
            ClientKey::Process(p) => format!("client {p}"),
            ClientKey::SystemSession(Some(s)) => match owner.get(&s) {
                Some(node) => format!("{node}'s ZooKeeper session {}", fmt_session(s)),
                None => format!("ZooKeeper session {}", fmt_session(s)),
            },
            ClientKey::SystemSession(None) => {
                "Kafka-side ZooKeeper requests before a session".into()
            }
        };
        let mut line = format!(
            "{who}: {}, {}: {} ok, {} fail, {} info",
            plural(ops.len(), "op"),
            plural(writes, "write"),
            count(Outcome::Ok),
            count(Outcome::Fail),
            count(Outcome::Info)
        );
        let sessions: BTreeSet<i64> = ops.iter().filter_map(|op| op.session).collect();
        if !sessions.is_empty() && matches!(key, ClientKey::Process(_)) {
            let s: Vec<String> = sessions.iter().map(|s| fmt_session(*s)).collect();
            let _ = write!(line, "; sessions {}", s.join(", "));
        }
        let windows = unavailable_windows(&ops);
        if !windows.is_empty() {
            let shown: Vec<String> = windows
                .iter()
                .take(WINDOWS_PER_CLIENT_MAX)
                .map(|(s, e)| match e {
                    Some(e) => format!("{s}..{e} ({})", fmt_span(*s, *e)),
                    None => format!("from {s} (never completed)"),
                })
                .collect();
            let _ = write!(line, "; unavailable {}", shown.join(", "));
            if windows.len() > WINDOWS_PER_CLIENT_MAX {
                let _ = write!(line, " and {} more", windows.len() - WINDOWS_PER_CLIENT_MAX);
            }
        }
        lines.push(line);
    }
    lines
}

/// A short description of a call, for tooltips and listings.
pub(crate) fn describe_call(c: &Call) -> String {
    match c {
        Call::Read { key } => format!("read {key}"),
        Call::Write { key, value } => format!("write {key}={value}"),
        Call::Cas { key, from, to } => format!("cas {key} {from}->{to}"),
        Call::Append { key, value } => format!("append {key} {value}"),
        Call::Get { key } => format!("get {key}"),
        Call::Put { key, value } => format!("put {key}={value:?}"),
        Call::Add { key, value } => format!("add {key} {value}"),
        Call::Enqueue { key, value } => format!("enqueue {key} {value}"),
        Call::Dequeue { key } => format!("dequeue {key}"),
        Call::Create {
            path,
            data,
            ephemeral,
            sequential,
        } => {
            let mut flags = String::new();
            if *ephemeral {
                flags.push_str(" ephemeral");
            }
            if *sequential {
                flags.push_str(" sequential");
            }
            format!(
                "create {path}{flags} data={}",
                data.as_deref().unwrap_or("null")
            )
        }
        Call::Delete { path, version } => format!("delete {path} version={version}"),
        Call::SetData {
            path,
            data,
            version,
        } => format!("setData {path} {data} version={version}"),
        Call::GetData { path, .. } => format!("getData {path}"),
        Call::Exists { path, .. } => format!("exists {path}"),
        Call::GetChildren { path, .. } => format!("getChildren {path}"),
        Call::Sync { path } => format!("sync {path}"),
        Call::Multi { ops } => {
            let v: Vec<String> = ops.iter().map(describe_call).collect();
            format!("multi [{}]", v.join("; "))
        }
        Call::Check { path, version } => format!("check {path} version={version}"),
        Call::Produce {
            topic,
            partition,
            value,
            acks,
        } => format!("produce {topic}/{partition} {value} acks={acks}"),
        Call::Fetch {
            topic,
            partition,
            offset,
        } => format!("fetch {topic}/{partition} from {offset}"),
        Call::CommitOffset {
            group,
            topic,
            partition,
            offset,
        } => {
            format!("commit {group} {topic}/{partition} offset {offset}")
        }
    }
}

/// A short description of a return value.
pub(crate) fn describe_ret(r: &Ret) -> String {
    match r {
        Ret::None => "-".into(),
        Ret::Value { value } => value.map(|v| v.to_string()).unwrap_or_else(|| "nil".into()),
        Ret::List { values } => format!("{values:?}"),
        Ret::Str { value } => format!("{value:?}"),
        Ret::Data { data, stat } => {
            format!(
                "data={} version={} mzxid={}",
                data.as_deref().unwrap_or("null"),
                stat.version,
                fmt_zxid(stat.mzxid)
            )
        }
        Ret::Stat { stat: Some(s) } => format!("version={} mzxid={}", s.version, fmt_zxid(s.mzxid)),
        Ret::Stat { stat: None } => "no node".into(),
        Ret::Path { path } => path.clone(),
        Ret::Children { children, .. } => format!("[{}]", children.join(", ")),
        Ret::Multi { results } => {
            let v: Vec<String> = results.iter().map(describe_ret).collect();
            format!("[{}]", v.join("; "))
        }
        Ret::Error { code, name } => format!("{name} ({code})"),
        Ret::Produced { offset } => format!("offset {offset}"),
        Ret::Records { records } => format!("{} records", records.len()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::event::SyncMode;
    use crate::history::EventRecord;

    pub(crate) fn ev(ms: u64, node: &str, event: impl Into<Event>) -> EventRecord {
        EventRecord {
            at: SimTime::from_millis(ms),
            node: node.to_string(),
            event: event.into(),
        }
    }

    pub(crate) fn op(
        process: u64,
        call: Call,
        invoke_ms: u64,
        complete_ms: Option<u64>,
        outcome: Outcome,
        ret: Ret,
    ) -> Op {
        Op {
            process,
            session: Some(0x100 + process as i64),
            node: Some("zk1".into()),
            call,
            invoke: SimTime::from_millis(invoke_ms),
            complete: complete_ms.map(SimTime::from_millis),
            outcome,
            ret,
            zxid: None,
        }
    }

    fn decided(leader: u64, round: u64, votes: &[(u64, u64)], took_ms: u64) -> ZkEvent {
        ZkEvent::ElectionDecided {
            leader,
            zxid: 0,
            round,
            peer_epoch: 1,
            votes: votes.to_vec(),
            took_ms,
        }
    }

    fn role(role: ZkRole, epoch: u32) -> ZkEvent {
        ZkEvent::RoleChanged { role, epoch }
    }

    /// Three servers elect zk3, it crashes, zk2 takes over; a partition; a session expires.
    pub(crate) fn zk_story() -> History {
        let v1 = [(1, 3), (2, 3), (3, 3)];
        let v2 = [(1, 2), (2, 2)];
        let mut h = History::new();
        h.events = vec![
            ev(0, "zk1", SimEvent::NodeStarted { incarnation: 1 }),
            ev(0, "zk2", SimEvent::NodeStarted { incarnation: 1 }),
            ev(0, "zk3", SimEvent::NodeStarted { incarnation: 1 }),
            ev(1, "zk1", role(ZkRole::Looking, 0)),
            ev(1, "zk2", role(ZkRole::Looking, 0)),
            ev(1, "zk3", role(ZkRole::Looking, 0)),
            ev(200, "zk1", decided(3, 1, &v1, 199)),
            ev(201, "zk2", decided(3, 1, &v1, 200)),
            ev(212, "zk3", decided(3, 1, &v1, 211)),
            ev(212, "zk1", role(ZkRole::Following, 0)),
            ev(212, "zk2", role(ZkRole::Following, 0)),
            ev(212, "zk3", role(ZkRole::Leading, 0)),
            ev(
                230,
                "zk3",
                ZkEvent::EpochProposed {
                    epoch: 1,
                    quorum: vec![1, 3],
                },
            ),
            ev(
                240,
                "zk3",
                ZkEvent::SyncSent {
                    follower: 1,
                    mode: SyncMode::Diff,
                    follower_zxid: 0,
                    leader_zxid: 0,
                    trunc_to: None,
                },
            ),
            ev(
                250,
                "zk3",
                ZkEvent::LeaderEstablished {
                    epoch: 1,
                    quorum: vec![1, 2, 3],
                },
            ),
            ev(
                300,
                "zk1",
                ZkEvent::SessionCreated {
                    session: 0x101,
                    timeout_ms: 4000,
                },
            ),
            ev(
                3000,
                "zk3",
                SimEvent::NodeCrashed {
                    torn: true,
                    disk_lost: false,
                    page_cache_kept: false,
                },
            ),
            ev(3100, "zk1", role(ZkRole::Looking, 1)),
            ev(3100, "zk2", role(ZkRole::Looking, 1)),
            ev(3300, "zk1", decided(2, 2, &v2, 200)),
            ev(3312, "zk2", decided(2, 2, &v2, 212)),
            ev(3312, "zk1", role(ZkRole::Following, 1)),
            ev(3312, "zk2", role(ZkRole::Leading, 1)),
            ev(
                3320,
                "zk2",
                ZkEvent::EpochProposed {
                    epoch: 2,
                    quorum: vec![1, 2],
                },
            ),
            ev(
                3330,
                "zk2",
                ZkEvent::LeaderEstablished {
                    epoch: 2,
                    quorum: vec![1, 2],
                },
            ),
            ev(
                5000,
                "world",
                SimEvent::Partitioned {
                    groups: vec![vec!["zk1".into()], vec!["zk2".into(), "zk3".into()]],
                },
            ),
            ev(6000, "zk3", SimEvent::NodeStarted { incarnation: 2 }),
            ev(
                6001,
                "zk3",
                ZkEvent::Recovered {
                    last_zxid: 0x1_0000_0002,
                    snapshot_zxid: 0,
                    accepted_epoch: 1,
                    current_epoch: 1,
                    log_records: 2,
                },
            ),
            ev(6002, "zk3", role(ZkRole::Looking, 1)),
            ev(6100, "zk3", decided(2, 2, &[(2, 2), (3, 2)], 98)),
            ev(6100, "zk3", role(ZkRole::Following, 2)),
            ev(
                6200,
                "zk2",
                ZkEvent::SyncSent {
                    follower: 3,
                    mode: SyncMode::Trunc,
                    follower_zxid: 0x1_0000_0002,
                    leader_zxid: 0x2_0000_0001,
                    trunc_to: Some(0x1_0000_0001),
                },
            ),
            ev(7000, "world", SimEvent::Healed),
            ev(
                8000,
                "zk1",
                ZkEvent::SessionClosed {
                    session: 0x101,
                    expired: true,
                    ephemerals: vec!["/lock/a".into()],
                },
            ),
            ev(
                8001,
                "zk2",
                ZkEvent::SessionClosed {
                    session: 0x101,
                    expired: true,
                    ephemerals: vec!["/lock/a".into()],
                },
            ),
            ev(
                8002,
                "zk3",
                ZkEvent::SessionClosed {
                    session: 0x101,
                    expired: true,
                    ephemerals: vec!["/lock/a".into()],
                },
            ),
            ev(9000, "zk2", SimEvent::NodePaused),
            ev(9500, "zk2", SimEvent::NodeResumed),
        ];
        h.ops = vec![
            op(
                1,
                Call::Write {
                    key: "x".into(),
                    value: 1,
                },
                400,
                Some(410),
                Outcome::Ok,
                Ret::None,
            ),
            op(
                1,
                Call::Write {
                    key: "x".into(),
                    value: 2,
                },
                2990,
                None,
                Outcome::Info,
                Ret::None,
            ),
            op(
                2,
                Call::Read { key: "x".into() },
                500,
                Some(505),
                Outcome::Ok,
                Ret::Value { value: Some(1) },
            ),
            op(
                2,
                Call::Read { key: "x".into() },
                3050,
                Some(3150),
                Outcome::Fail,
                Ret::Error {
                    code: -4,
                    name: "ConnectionLoss".into(),
                },
            ),
            op(
                2,
                Call::Read { key: "x".into() },
                3200,
                Some(3340),
                Outcome::Fail,
                Ret::Error {
                    code: -4,
                    name: "ConnectionLoss".into(),
                },
            ),
            op(
                2,
                Call::Cas {
                    key: "x".into(),
                    from: 5,
                    to: 6,
                },
                3400,
                Some(3405),
                Outcome::Fail,
                Ret::Error {
                    code: -103,
                    name: "BadVersion".into(),
                },
            ),
        ];
        h
    }

    pub(crate) fn kafka_story() -> History {
        let mut h = History::new();
        let psw =
            |leader: i32, le: i32, isr: Vec<u32>, by: u32| KafkaEvent::PartitionStateWritten {
                topic: "t".into(),
                partition: 0,
                leader,
                leader_epoch: le,
                isr,
                controller_epoch: 1,
                by,
            };
        h.events = vec![
            ev(
                10,
                "kafka1",
                KafkaEvent::BrokerRegistered {
                    broker: 1,
                    broker_epoch: 0x1_0000_0004,
                },
            ),
            ev(
                12,
                "kafka1",
                KafkaEvent::ControllerElected {
                    broker: 1,
                    epoch: 1,
                },
            ),
            ev(20, "kafka1", psw(1, 0, vec![1, 2, 3], 1)),
            ev(21, "kafka1", psw(1, 0, vec![1, 2, 3], 1)),
            ev(
                25,
                "kafka2",
                KafkaEvent::LeaderAndIsrApplied {
                    broker: 2,
                    topic: "t".into(),
                    partition: 0,
                    leader: 1,
                    leader_epoch: 0,
                    isr: vec![1, 2, 3],
                },
            ),
            ev(
                2000,
                "kafka1",
                KafkaEvent::IsrChanged {
                    topic: "t".into(),
                    partition: 0,
                    leader: 1,
                    leader_epoch: 0,
                    isr: vec![1, 2],
                },
            ),
            ev(
                3000,
                "kafka1",
                SimEvent::NodeCrashed {
                    torn: false,
                    disk_lost: false,
                    page_cache_kept: false,
                },
            ),
            ev(
                3500,
                "kafka2",
                KafkaEvent::ControllerElected {
                    broker: 2,
                    epoch: 2,
                },
            ),
            ev(3510, "kafka2", psw(2, 1, vec![2], 2)),
            ev(
                3600,
                "kafka3",
                KafkaEvent::LogTruncated {
                    broker: 3,
                    topic: "t".into(),
                    partition: 0,
                    to_offset: 7,
                    reason: "follower of epoch 1".into(),
                },
            ),
            ev(
                3700,
                "kafka3",
                KafkaEvent::RequestRejected {
                    broker: 3,
                    request: "LeaderAndIsr".into(),
                    reason: "stale controller epoch 1 < 2".into(),
                },
            ),
        ];
        h.ops = vec![
            op(
                0,
                Call::Produce {
                    topic: "t".into(),
                    partition: 0,
                    value: "a".into(),
                    acks: -1,
                },
                100,
                Some(120),
                Outcome::Ok,
                Ret::Produced { offset: 0 },
            ),
            op(
                0,
                Call::Produce {
                    topic: "t".into(),
                    partition: 0,
                    value: "b".into(),
                    acks: -1,
                },
                3001,
                Some(3400),
                Outcome::Fail,
                Ret::Error {
                    code: 6,
                    name: "NOT_LEADER_OR_FOLLOWER".into(),
                },
            ),
            op(
                0,
                Call::Produce {
                    topic: "t".into(),
                    partition: 0,
                    value: "c".into(),
                    acks: -1,
                },
                3520,
                Some(3530),
                Outcome::Ok,
                Ret::Produced { offset: 1 },
            ),
        ];
        h
    }

    #[test]
    fn zk_story_narration() {
        insta::assert_snapshot!(narrate(&zk_story(), false));
    }

    #[test]
    fn zk_story_verbose_has_every_event() {
        let h = zk_story();
        let text = narrate(&h, true);
        let timeline_lines = text
            .lines()
            .take_while(|l| *l != "Clients:")
            .filter(|l| !l.contains("=> "))
            .count();
        // The header plus one line per event record.
        assert_eq!(timeline_lines, 1 + h.events.len());
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_slow_disk_is_narrated_when_set_and_when_restored() {
        let mut h = zk_story();
        let end = h.events.iter().map(|r| r.at.as_millis()).max().unwrap_or(0);
        let changed = |min, max, restored| SimEvent::DiskChanged {
            fsync_min_us: min,
            fsync_max_us: max,
            restored,
        };
        h.events
            .push(ev(end + 1_000, "zk2", changed(50_000, 400_000, false)));
        h.events
            .push(ev(end + 3_500, "zk2", changed(500, 2_000, true)));
        let text = narrate(&h, false);
        assert!(
            text.contains("zk2's disk slowed: each fsync takes 50ms..400ms"),
            "{text}"
        );
        assert!(
            text.contains(
                "zk2's disk back to its normal speed after 2.500s (each fsync 500us..2ms)"
            ),
            "{text}"
        );
        let verbose = narrate(&h, true);
        assert!(
            verbose.contains("zk2: disk slowed: each fsync 50ms..400ms"),
            "{verbose}"
        );
        assert!(
            verbose.contains("zk2: disk restored: each fsync 500us..2ms"),
            "{verbose}"
        );
    }

    #[test]
    fn election_on_three_servers_is_one_line() {
        let text = narrate(&zk_story(), false);
        assert_eq!(
            text.matches("elected leader of epoch 1").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("session 0x101 expired").count(), 1, "{text}");
    }

    #[test]
    fn kafka_story_narration() {
        insta::assert_snapshot!(narrate(&kafka_story(), false));
    }

    #[test]
    fn empty_history() {
        assert_eq!(
            narrate(&History::new(), false),
            "Timeline (simulated time):\n  (no events recorded)\nClients:\n  (no client operations)\n"
        );
    }

    #[test]
    fn unavailable_windows_merge_consecutive_failures() {
        let h = zk_story();
        let p2: Vec<&Op> = h.ops.iter().filter(|o| o.process == 2).collect();
        assert_eq!(
            unavailable_windows(&p2),
            vec![(SimTime::from_millis(3050), Some(SimTime::from_millis(3340)))]
        );
    }
}
