//! Step-level tests of [`Peer`]: a few servers wired to each other by a tiny in-memory
//! driver, no runtime, no clock but the one the test moves.
//!
//! The driver ([`Ensemble`]) routes outputs the way the host ([`super::super::server`])
//! does: FLE notifications by sid; `ConnectToLeader` answered at once with
//! `LeaderConnected` on a fresh connection whose leader end the leader learns from the first
//! message on it; `Send` to the other end of the connection, FIFO over one global queue;
//! `Append` completed by `Logged` at once, or when the test calls [`Ensemble::fsync`] for a
//! server that holds its fsyncs; `Persist` applied to a test-side disk; `SetTimer` recorded
//! and fired only when the test moves time with [`Ensemble::advance`]. A crash loses the
//! server's unsynced log tail and every message to or from it still in flight.
//!
//! Each server's inputs and outputs are written to a transcript, one line each (`< ` for an
//! input, `> ` for an output, `* ` for a recorded event), so a test states "given these
//! messages in, these outputs in this order" as a list of lines.

use super::{
    Database, Input, Output, Peer, PeerConfig, PersistOp, Timer, ZkBugs, COMMITTED_LOG_MAX,
};
use crate::history::{ZkEvent, ZkRole};
use crate::zk::datatree::{DataTree, TreeFlags};
use crate::zk::ids::{Epoch, Sid, Zxid};
use crate::zk::txn::Txn;
use crate::zk::wire::{ClientMsg, ServerMsg, ZabMsg, ZkWire};
use kzsim_sim::ConnId;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Most inputs one `deliver_all` hands out before the test fails as "never quiet".
const STEPS_MAX: usize = 10_000;
/// Most timer instants one `advance` fires (leaders tick every half tickTime).
const TIMER_FIRINGS_MAX: usize = 1_000;
const TICK_MS: u64 = 2_000;
/// Time enough for FLE's 200 ms finalize wait and the sync after it, less than half a tick
/// (so no PING joins the transcripts).
const ELECTION_MS: u64 = 500;

fn z(epoch: Epoch, counter: u32) -> Zxid {
    Zxid::new(epoch, counter)
}

fn config(sid: Sid, n: u64) -> PeerConfig {
    PeerConfig {
        sid,
        voters: (1..=n).collect(),
        tick_ms: TICK_MS,
        init_limit: 10,
        sync_limit: 5,
        min_session_ms: TICK_MS * 2,
        max_session_ms: TICK_MS * 20,
        read_only: false,
        // No periodic snapshot: it would add lines to the transcripts.
        snap_count: 1_000_000,
        wall_clock_start_ms: 0,
        bugs: ZkBugs::default(),
    }
}

/// A server's disk: the log (its first `durable` txns fsynced), epochs and snapshots.
#[derive(Default)]
struct Disk {
    accepted_epoch: Epoch,
    current_epoch: Epoch,
    snapshots: Vec<(Zxid, DataTree)>,
    log: Vec<Arc<Txn>>,
    durable: usize,
}

impl Disk {
    /// What `Storage::recover` rebuilds: the newest snapshot, then the log after it.
    fn recover(&self) -> Database {
        let mut db = Database::empty();
        db.accepted_epoch = self.accepted_epoch;
        db.current_epoch = self.current_epoch;
        if let Some((zxid, tree)) = self.snapshots.iter().max_by_key(|(z, _)| *z) {
            db.tree = tree.clone();
            db.last_processed = *zxid;
        }
        for t in &self.log {
            if t.header.zxid > db.last_processed {
                db.tree.replay(t, TreeFlags::default());
                db.last_processed = t.header.zxid;
                db.committed_log.push_back(t.clone());
                if db.committed_log.len() > COMMITTED_LOG_MAX {
                    db.committed_log.pop_front();
                }
                db.txns_since_snapshot += 1;
            }
        }
        db.last_logged = db.last_processed;
        db
    }

    fn logged_zxids(&self) -> Vec<Zxid> {
        self.log.iter().map(|t| t.header.zxid).collect()
    }
}

/// One end of a connection: whose it is, and where it leads.
#[derive(Clone, Copy)]
enum End {
    /// A learner connection end held by `owner`; `peer` holds the other end, `peer_conn`.
    Peer {
        owner: Sid,
        peer: Sid,
        peer_conn: ConnId,
    },
    /// A client's connection, the server's end (the test plays the client).
    Client,
}

struct Node {
    cfg: PeerConfig,
    peer: Option<Peer>,
    disk: Disk,
    timers: BTreeMap<Timer, u64>,
    /// Appends wait for [`Ensemble::fsync`] instead of completing at once.
    hold_fsync: bool,
    /// The newest appended zxid whose `Logged` the peer has not been given.
    unreported: Option<Zxid>,
}

struct Ensemble {
    now_ms: u64,
    nodes: BTreeMap<Sid, Node>,
    /// Inputs in flight, delivered in order.
    queue: VecDeque<(Sid, Input)>,
    /// Each connection end (by its id) and the other end.
    conns: BTreeMap<ConnId, End>,
    next_conn: u64,
    /// Inputs the host hands the same server before any other (`LeaderConnected`,
    /// `Reloaded`).
    urgent: VecDeque<Input>,
    transcript: Vec<(Sid, String)>,
    events: Vec<(Sid, ZkEvent)>,
}

impl Ensemble {
    /// `n` fresh servers, not started.
    fn new(n: u64) -> Ensemble {
        Self::with_databases((1..=n).map(|_| Database::empty()).collect())
    }

    /// One server per database (sids 1, 2, ...), each as recovered from that database,
    /// not started. Their disks hold only the epochs.
    fn with_databases(dbs: Vec<Database>) -> Ensemble {
        let n = dbs.len() as u64;
        let nodes = dbs
            .into_iter()
            .zip(1..)
            .map(|(db, sid)| {
                let cfg = config(sid, n);
                let disk = Disk {
                    accepted_epoch: db.accepted_epoch,
                    current_epoch: db.current_epoch,
                    ..Disk::default()
                };
                let node = Node {
                    peer: Some(Peer::new(cfg.clone(), db, sid)),
                    cfg,
                    disk,
                    timers: BTreeMap::new(),
                    hold_fsync: false,
                    unreported: None,
                };
                (sid, node)
            })
            .collect();
        Ensemble {
            now_ms: 0,
            nodes,
            queue: VecDeque::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            urgent: VecDeque::new(),
            transcript: Vec::new(),
            events: Vec::new(),
        }
    }

    /// `n` fresh servers that have elected a leader and synced.
    fn elected(n: u64) -> Ensemble {
        let mut e = Ensemble::new(n);
        e.start_all();
        e.advance(ELECTION_MS);
        e
    }

    /// Three servers, server 3 leading epoch 1, one client write (0x100000001) on every
    /// server: the starting point of the sync tests.
    fn elected_with_one_write() -> Ensemble {
        let mut e = Ensemble::elected(3);
        e.client_connect(3);
        e.deliver_all(); // 0x100000001 everywhere
        e
    }

    fn start_all(&mut self) {
        let sids: Vec<Sid> = self.nodes.keys().copied().collect();
        for sid in sids {
            self.start(sid);
        }
    }

    fn start(&mut self, sid: Sid) {
        let now = self.now_ms;
        let outs = self.peer_mut(sid).start(now);
        self.transcript.push((sid, "< start".into()));
        self.carry_out_all(sid, outs);
    }

    fn peer(&self, sid: Sid) -> &Peer {
        self.nodes[&sid].peer.as_ref().expect("server is up")
    }

    fn peer_mut(&mut self, sid: Sid) -> &mut Peer {
        self.nodes
            .get_mut(&sid)
            .and_then(|n| n.peer.as_mut())
            .expect("server is up")
    }

    fn role(&self, sid: Sid) -> ZkRole {
        self.peer(sid).role()
    }

    /// The one server leading; panics unless there is exactly one.
    fn leader(&self) -> Sid {
        let leading: Vec<Sid> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.peer.as_ref().is_some_and(|p| p.role() == ZkRole::Leading))
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(leading.len(), 1, "expected exactly one leader: {leading:?}");
        leading[0]
    }

    /// A transcript position, for [`Ensemble::lines`].
    fn mark(&self) -> usize {
        self.transcript.len()
    }

    /// `sid`'s transcript lines since `mark`.
    fn lines(&self, sid: Sid, mark: usize) -> Vec<String> {
        self.transcript[mark..]
            .iter()
            .filter(|(s, _)| *s == sid)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// [`Ensemble::lines`] without elections, timers and heartbeats: the ZAB story.
    fn zab_lines(&self, sid: Sid, mark: usize) -> Vec<String> {
        self.lines(sid, mark)
            .into_iter()
            .filter(|l| {
                !["vote", "timer", "PING", "start"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect()
    }

    /// Every event `sid` recorded, in order.
    fn events_of(&self, sid: Sid) -> Vec<&ZkEvent> {
        self.events
            .iter()
            .filter(|(s, _)| *s == sid)
            .map(|(_, e)| e)
            .collect()
    }

    /// Hands `input` to `sid` now, carries out the outputs, and returns `sid`'s transcript
    /// lines for this step (the input first).
    fn step(&mut self, sid: Sid, input: Input) -> Vec<String> {
        let mark = self.mark();
        self.step_one(sid, input);
        let lines = self.lines(sid, mark);
        while let Some(i) = self.urgent.pop_front() {
            self.step_one(sid, i);
        }
        lines
    }

    fn step_one(&mut self, sid: Sid, input: Input) {
        let line = format!("< {}", self.show_input(&input));
        let now = self.now_ms;
        let node = self.nodes.get_mut(&sid).expect("known sid");
        let Some(peer) = node.peer.as_mut() else {
            return; // crashed: the input is lost
        };
        if let Input::Logged { .. } = input {
            node.unreported = None;
        }
        let outs = peer.step(now, input);
        self.transcript.push((sid, line));
        self.carry_out_all(sid, outs);
    }

    fn carry_out_all(&mut self, sid: Sid, outs: Vec<Output>) {
        for o in outs {
            self.carry_out(sid, o);
        }
    }

    fn say(&mut self, sid: Sid, line: String) {
        self.transcript.push((sid, line));
    }

    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    fn alive(&self, sid: Sid) -> bool {
        self.nodes.get(&sid).is_some_and(|n| n.peer.is_some())
    }

    fn carry_out(&mut self, sid: Sid, o: Output) {
        match o {
            Output::Election { to, n } => {
                self.say(sid, format!("> {to}: vote {}", n.vote.leader));
                if self.alive(to) {
                    self.queue.push_back((to, Input::Election { from: sid, n }));
                }
            }
            Output::ConnectToLeader { leader } => {
                self.say(sid, format!("> connect {leader}"));
                let (mine, theirs) = (self.new_conn(), self.new_conn());
                self.urgent
                    .push_back(Input::LeaderConnected { leader, conn: mine });
                if self.alive(leader) {
                    let end = |owner, peer, peer_conn| End::Peer {
                        owner,
                        peer,
                        peer_conn,
                    };
                    self.conns.insert(mine, end(sid, leader, theirs));
                    self.conns.insert(theirs, end(leader, sid, mine));
                } else {
                    self.queue.push_back((sid, Input::Closed { conn: mine }));
                }
            }
            Output::Send { conn, msg } => match (self.conns.get(&conn).copied(), msg) {
                (
                    Some(End::Peer {
                        peer: to,
                        peer_conn: c,
                        ..
                    }),
                    ZkWire::Zab(msg),
                ) => {
                    self.say(sid, format!("> {to}: {}", show_zab(&msg)));
                    self.queue.push_back((to, Input::Zab { conn: c, msg }));
                }
                (Some(End::Client), ZkWire::Server(msg)) => {
                    self.say(sid, format!("> client: {}", show_server(&msg)));
                }
                (_, msg) => self.say(sid, format!("> closed {conn}: {msg:?}")),
            },
            Output::Close { conn } => match self.conns.remove(&conn) {
                Some(End::Peer {
                    peer: to,
                    peer_conn: c,
                    ..
                }) => {
                    self.say(sid, format!("> close {to}"));
                    self.conns.remove(&c);
                    self.queue.push_back((to, Input::Closed { conn: c }));
                }
                Some(End::Client) => self.say(sid, "> close client".into()),
                None => {}
            },
            Output::SetTimer { timer, at_ms } => {
                self.nodes
                    .get_mut(&sid)
                    .expect("sid")
                    .timers
                    .insert(timer, at_ms);
            }
            Output::Append(txns) => {
                let zxids: Vec<String> = txns.iter().map(|t| t.header.zxid.to_string()).collect();
                self.say(sid, format!("> append {}", zxids.join(",")));
                let node = self.nodes.get_mut(&sid).expect("sid");
                node.unreported = txns.last().map(|t| t.header.zxid).or(node.unreported);
                node.disk.log.extend(txns);
                if !node.hold_fsync {
                    node.disk.durable = node.disk.log.len();
                    let upto = node.unreported.take().expect("appended");
                    self.queue.push_back((sid, Input::Logged { upto }));
                }
            }
            Output::RollLog => {}
            Output::Persist(op) => {
                let line = show_persist(&op);
                self.say(sid, format!("> {line}"));
                let disk = &mut self.nodes.get_mut(&sid).expect("sid").disk;
                // The host writes after every earlier append has reached the disk.
                disk.durable = disk.log.len();
                match op {
                    PersistOp::AcceptedEpoch(e) => disk.accepted_epoch = e,
                    PersistOp::CurrentEpoch(e) => disk.current_epoch = e,
                    PersistOp::Snapshot { zxid, tree, .. } => {
                        disk.snapshots.push((zxid, (*tree).clone()))
                    }
                    PersistOp::Truncate { to } => {
                        disk.log.retain(|t| t.header.zxid <= to);
                        disk.durable = disk.log.len();
                        disk.snapshots.retain(|(z, _)| *z <= to);
                        let db = disk.recover();
                        self.urgent.push_back(Input::Reloaded(Box::new(db)));
                    }
                }
            }
            Output::Record(e) => {
                if let Some(line) = show_event(&e) {
                    self.say(sid, format!("* {line}"));
                }
                self.events.push((sid, e));
            }
        }
    }

    /// Hands out the next input in flight; returns its receiver and that step's lines.
    /// A message on a connection that closed meanwhile is dropped, as the transport does.
    fn deliver_one(&mut self) -> Option<(Sid, Vec<String>)> {
        let (sid, input) = self.queue.pop_front()?;
        if let Input::Zab { conn, .. } = &input {
            if !self.conns.contains_key(conn) {
                return Some((sid, Vec::new()));
            }
        }
        Some((sid, self.step(sid, input)))
    }

    /// Loses the next input in flight (as if the network dropped it); returns its line.
    fn drop_next(&mut self) -> Option<String> {
        let (_, input) = self.queue.pop_front()?;
        Some(self.show_input(&input))
    }

    /// Delivers until nothing is in flight.
    fn deliver_all(&mut self) {
        assert!(!self.deliver_until(|_, _| false), "nothing can stop it");
    }

    /// Delivers until nothing is in flight or the next input is one `stop(to, input line)`
    /// picks, which stays queued; returns true in that case.
    fn deliver_until(&mut self, stop: impl Fn(Sid, &str) -> bool) -> bool {
        for _ in 0..STEPS_MAX {
            let Some((sid, input)) = self.queue.front() else {
                return false;
            };
            if stop(*sid, &self.show_input(input)) {
                return true;
            }
            self.deliver_one();
        }
        panic!("not quiet after {STEPS_MAX} steps");
    }

    /// Moves time forward by `ms`, firing due timers in time order (every timer due at
    /// one instant before the messages they cause) and delivering in between.
    fn advance(&mut self, ms: u64) {
        assert!(!self.advance_until(ms, |_, _| false), "nothing can stop it");
    }

    /// [`Ensemble::advance`] that stops (returning true) when the next input is one that
    /// `stop(to, input line)` picks, leaving it queued and time where it is.
    fn advance_until(&mut self, ms: u64, stop: impl Fn(Sid, &str) -> bool) -> bool {
        let until = self.now_ms + ms;
        for _ in 0..TIMER_FIRINGS_MAX {
            if self.deliver_until(&stop) {
                return true;
            }
            let next = self
                .nodes
                .values()
                .filter(|n| n.peer.is_some())
                .flat_map(|n| n.timers.values().copied())
                .min();
            let Some(at) = next.filter(|at| *at <= until) else {
                self.now_ms = until;
                return false;
            };
            self.now_ms = self.now_ms.max(at);
            let due: Vec<(Sid, Timer)> = self
                .nodes
                .iter()
                .flat_map(|(s, n)| n.timers.iter().map(move |(t, a)| (*s, *t, *a)))
                .filter(|(_, _, a)| *a == at)
                .map(|(s, t, _)| (s, t))
                .collect();
            for (sid, timer) in due {
                self.fire(sid, timer);
            }
        }
        panic!("more than {TIMER_FIRINGS_MAX} timer instants within {ms} ms");
    }

    /// Fires `sid`'s timer now (whenever it was armed for).
    fn fire(&mut self, sid: Sid, timer: Timer) -> Vec<String> {
        self.nodes.get_mut(&sid).expect("sid").timers.remove(&timer);
        self.step(sid, Input::Timer(timer))
    }

    /// Makes `sid`'s appends from now on wait for [`Ensemble::fsync`].
    fn hold_fsync(&mut self, sid: Sid) {
        self.nodes.get_mut(&sid).expect("sid").hold_fsync = true;
    }

    /// Completes `sid`'s outstanding appends now and returns the `Logged` step's lines.
    fn fsync(&mut self, sid: Sid) -> Vec<String> {
        let node = self.nodes.get_mut(&sid).expect("sid");
        node.disk.durable = node.disk.log.len();
        let upto = node.unreported.expect("an append waits for its fsync");
        self.step(sid, Input::Logged { upto })
    }

    /// Kills `sid`: its unsynced log tail, its timers and every message to or from it that
    /// is still in flight are lost; the other end of each of its connections sees it close.
    fn crash(&mut self, sid: Sid) {
        let node = self.nodes.get_mut(&sid).expect("sid");
        node.peer = None;
        node.timers.clear();
        node.unreported = None;
        node.disk.log.truncate(node.disk.durable);
        // Every connection end `sid` held: (mine, the other's sid, the other end).
        let ends: Vec<(ConnId, Sid, ConnId)> = self
            .conns
            .iter()
            .filter_map(|(c, end)| match end {
                End::Peer {
                    owner,
                    peer,
                    peer_conn,
                } if *owner == sid => Some((*c, *peer, *peer_conn)),
                _ => None,
            })
            .collect();
        let from_me: Vec<ConnId> = ends.iter().map(|(_, _, theirs)| *theirs).collect();
        self.queue.retain(|(to, input)| {
            *to != sid
                && !matches!(input, Input::Election { from, .. } if *from == sid)
                && !matches!(input, Input::Zab { conn, .. } if from_me.contains(conn))
        });
        for (mine, peer, theirs) in ends {
            self.conns.remove(&mine);
            self.conns.remove(&theirs);
            self.queue.push_back((peer, Input::Closed { conn: theirs }));
        }
        self.transcript.push((sid, "* crashed".into()));
    }

    /// Restarts `sid` from what its disk holds, LOOKING.
    fn restart(&mut self, sid: Sid) {
        let node = self.nodes.get_mut(&sid).expect("sid");
        assert!(node.peer.is_none(), "restart of a running server {sid}");
        let db = node.disk.recover();
        node.peer = Some(Peer::new(node.cfg.clone(), db, sid + self.now_ms));
        self.start(sid);
    }

    /// `at`'s end of the learner connection between `at` and `other`.
    fn conn(&self, at: Sid, other: Sid) -> ConnId {
        self.conns
            .iter()
            .find_map(|(c, e)| match e {
                End::Peer { owner, peer, .. } if *owner == at && *peer == other => Some(*c),
                _ => None,
            })
            .expect("a connection between the two")
    }

    /// A client opens a new session on `sid` (a write: the leader proposes createSession).
    fn client_connect(&mut self, sid: Sid) -> Vec<String> {
        let conn = self.new_conn();
        self.conns.insert(conn, End::Client);
        let msg = ClientMsg::Connect {
            session: None,
            timeout_ms: 10_000,
            last_zxid_seen: Zxid::ZERO,
            read_only_ok: false,
        };
        self.step(sid, Input::Client { conn, msg })
    }

    fn show_input(&self, input: &Input) -> String {
        let from = |conn: &ConnId| match self.conns.get(conn) {
            Some(End::Peer { peer, .. }) => peer.to_string(),
            Some(End::Client) => "client".into(),
            None => format!("closed {conn}"),
        };
        match input {
            Input::Election { from, n } => format!("{from}: vote {}", n.vote.leader),
            Input::Zab { conn, msg } => format!("{}: {}", from(conn), show_zab(msg)),
            Input::LeaderConnected { leader, .. } => format!("connected {leader}"),
            Input::Client { msg, .. } => match msg {
                ClientMsg::Connect { .. } => "client: connect".into(),
                other => format!("client: {other:?}"),
            },
            Input::Closed { .. } => "closed".into(),
            Input::Timer(t) => format!("timer {t:?}"),
            Input::Logged { upto } => format!("logged {upto}"),
            Input::Reloaded(db) => format!("reloaded {}", db.last_processed),
        }
    }
}

fn show_zab(m: &ZabMsg) -> String {
    match m {
        ZabMsg::FollowerInfo { accepted_epoch, .. } => format!("FOLLOWERINFO {accepted_epoch}"),
        ZabMsg::LeaderInfo { new_epoch } => format!("LEADERINFO {new_epoch}"),
        ZabMsg::AckEpoch {
            current_epoch,
            last_zxid,
        } => match current_epoch {
            Some(e) => format!("ACKEPOCH {e} {last_zxid}"),
            None => format!("ACKEPOCH same {last_zxid}"),
        },
        ZabMsg::Diff { zxid } => format!("DIFF {zxid}"),
        ZabMsg::Trunc { zxid } => format!("TRUNC {zxid}"),
        ZabMsg::Snap { zxid, .. } => format!("SNAP {zxid}"),
        ZabMsg::Proposal(t) => format!("PROPOSAL {}", t.header.zxid),
        ZabMsg::Commit { zxid } => format!("COMMIT {zxid}"),
        ZabMsg::NewLeader { zxid } => format!("NEWLEADER {zxid}"),
        ZabMsg::Ack { zxid } => format!("ACK {zxid}"),
        ZabMsg::UpToDate => "UPTODATE".into(),
        ZabMsg::Ping { .. } => "PING".into(),
        ZabMsg::PingReply { .. } => "PINGREPLY".into(),
        ZabMsg::Request { .. } => "REQUEST".into(),
        ZabMsg::SyncDone { .. } => "SYNCDONE".into(),
        ZabMsg::RequestFailed { .. } => "REQUESTFAILED".into(),
    }
}

fn show_server(m: &ServerMsg) -> String {
    match m {
        ServerMsg::Connected { .. } => "Connected".into(),
        ServerMsg::Refused { .. } => "Refused".into(),
        other => format!("{other:?}"),
    }
}

fn show_persist(op: &PersistOp) -> String {
    match op {
        PersistOp::AcceptedEpoch(e) => format!("acceptedEpoch {e}"),
        PersistOp::CurrentEpoch(e) => format!("currentEpoch {e}"),
        PersistOp::Snapshot { zxid, .. } => format!("snapshot {zxid}"),
        PersistOp::Truncate { to } => format!("truncate {to}"),
    }
}

/// The events that tell the protocol's story; the rest stay in `Ensemble::events`.
fn show_event(e: &ZkEvent) -> Option<String> {
    Some(match e {
        ZkEvent::ElectionDecided { leader, .. } => format!("decided {leader}"),
        ZkEvent::LeaderEstablished { epoch, .. } => format!("established {epoch}"),
        ZkEvent::Committed { zxid, .. } => format!("committed {}", Zxid(*zxid)),
        ZkEvent::Delivered { zxid, .. } => format!("delivered {}", Zxid(*zxid)),
        ZkEvent::Truncated { to } => format!("truncated {}", Zxid(*to)),
        ZkEvent::SnapLoaded { zxid } => format!("snap loaded {}", Zxid(*zxid)),
        ZkEvent::SessionExpiring { session, .. } => format!("expiring session {session:#x}"),
        ZkEvent::SteppedDown { epoch, .. } => format!("stepped down {epoch}"),
        ZkEvent::ProtocolError { msg, .. } => format!("protocol error: {msg}"),
        _ => return None,
    })
}

fn lines(ls: &[&str]) -> Vec<String> {
    ls.iter().map(|l| l.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// Election

/// Three fresh servers (all at epoch 0, zxid 0) elect exactly one leader, the highest sid,
/// and every server's decision names it.
#[test]
fn fresh_ensemble_elects_one_leader_the_highest_sid() {
    let e = Ensemble::elected(3);
    assert_eq!(e.leader(), 3);
    assert_eq!(e.role(1), ZkRole::Following);
    assert_eq!(e.role(2), ZkRole::Following);
    for sid in 1..=3 {
        let decided: Vec<Sid> = e
            .events_of(sid)
            .iter()
            .filter_map(|ev| match ev {
                ZkEvent::ElectionDecided { leader, .. } => Some(*leader),
                _ => None,
            })
            .collect();
        assert_eq!(decided, [3], "server {sid}'s decisions");
    }
    assert!(e.peer(3).serving(), "the leader serves once synced");
}

/// A database as recovered by a server whose last zxid is `zxid` and whose epochs are
/// `epoch` (no tree behind it: enough for an election, which looks at nothing else).
fn db_at(epoch: Epoch, zxid: Zxid) -> Database {
    let mut db = Database::empty();
    db.accepted_epoch = epoch;
    db.current_epoch = epoch;
    db.last_processed = zxid;
    db.last_logged = zxid;
    db
}

/// FLE's vote order: (currentEpoch, last zxid, sid), compared in that order
/// (`FastLeaderElection.totalOrderPredicate`).
#[test]
fn vote_order_is_epoch_then_zxid_then_sid() {
    // (name, (currentEpoch, last zxid) of servers 1, 2, 3, the leader)
    type Row = (&'static str, [(Epoch, Zxid); 3], Sid);
    let rows: [Row; 5] = [
        ("all equal: the highest sid", [(1, z(1, 5)); 3], 3),
        (
            "a higher zxid beats a higher sid",
            [(1, z(1, 5)), (1, z(1, 4)), (1, z(1, 4))],
            1,
        ),
        (
            "a higher epoch beats a higher zxid",
            [(1, z(1, 9)), (2, z(1, 3)), (1, z(1, 9))],
            2,
        ),
        (
            "at equal zxids, a higher epoch beats a higher sid",
            [(2, z(1, 5)), (1, z(1, 5)), (1, z(1, 5))],
            1,
        ),
        (
            "the highest sid among the best (epoch, zxid)",
            [(1, z(1, 5)), (1, z(1, 5)), (1, z(1, 4))],
            2,
        ),
    ];
    for (name, servers, want) in rows {
        let mut e =
            Ensemble::with_databases(servers.iter().map(|(ep, zx)| db_at(*ep, *zx)).collect());
        e.start_all();
        e.advance(ELECTION_MS);
        for sid in 1..=3 {
            let decided: Vec<Sid> = e
                .events_of(sid)
                .iter()
                .filter_map(|ev| match ev {
                    ZkEvent::ElectionDecided { leader, .. } => Some(*leader),
                    _ => None,
                })
                .collect();
            assert_eq!(decided, [want], "{name}: server {sid}'s decisions");
        }
        assert_eq!(e.leader(), want, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Discovery and synchronization

/// Discovery: the leader chooses the epoch only once a quorum (itself and one follower)
/// sent FOLLOWERINFO, as one more than the highest acceptedEpoch among them; it persists
/// currentEpoch only with a quorum of ACKEPOCH, before any sync goes out; it is established
/// (UPTODATE) only with a quorum of NEWLEADER ACKs.
#[test]
fn leader_discovers_the_epoch_and_syncs_with_quorums() {
    let mut db1 = Database::empty();
    db1.accepted_epoch = 4; // server 1 promised epoch 4 to a leader that never got going
    let mut e = Ensemble::with_databases(vec![db1, Database::empty(), Database::empty()]);
    e.start_all();
    e.advance(ELECTION_MS);
    assert_eq!(e.leader(), 3);
    assert_eq!(
        e.zab_lines(3, 0),
        lines(&[
            "* decided 3",
            "< 1: FOLLOWERINFO 4",
            "> acceptedEpoch 5",
            "> 1: LEADERINFO 5",
            "< 2: FOLLOWERINFO 0",
            "> 2: LEADERINFO 5",
            "< 1: ACKEPOCH 0 0x0",
            "> currentEpoch 5",
            "> 1: DIFF 0x0",
            "> 1: NEWLEADER 0x500000000",
            "< 2: ACKEPOCH 0 0x0",
            "> 2: DIFF 0x0",
            "> 2: NEWLEADER 0x500000000",
            "< 1: ACK 0x500000000",
            "* established 5",
            "> 1: UPTODATE",
            "> snapshot 0x500000000",
            "< 2: ACK 0x500000000",
            "> 2: UPTODATE",
        ])
    );
    assert_eq!(
        e.zab_lines(2, 0),
        lines(&[
            "* decided 3",
            "> connect 3",
            "< connected 3",
            "> 3: FOLLOWERINFO 0",
            "< 3: LEADERINFO 5",
            "> acceptedEpoch 5",
            "> 3: ACKEPOCH 0 0x0",
            "< 3: DIFF 0x0",
            "< 3: NEWLEADER 0x500000000",
            "> currentEpoch 5",
            "> 3: ACK 0x500000000",
            "< 3: UPTODATE",
        ])
    );
}

/// Activation: until a quorum acknowledged NEWLEADER the leader serves no client; the
/// first follower's NEWLEADER ACK makes the quorum, and only then do UPTODATE and client
/// writes (PROPOSALs) go out.
#[test]
fn leader_serves_only_after_a_quorum_acked_newleader() {
    let mut e = Ensemble::new(3);
    e.start_all();
    let newleader_ack = |to: Sid, l: &str| to == 3 && l.ends_with("ACK 0x100000000");
    assert!(e.advance_until(ELECTION_MS, newleader_ack));
    assert!(!e.peer(3).serving());
    assert_eq!(
        e.client_connect(3),
        lines(&["< client: connect", "> client: Refused", "> close client"])
    );
    let (to, acked) = e.deliver_one().expect("the NEWLEADER ACK");
    assert_eq!(to, 3);
    assert_eq!(
        acked,
        lines(&[
            "< 1: ACK 0x100000000",
            "* established 1",
            "> 1: UPTODATE",
            "> snapshot 0x100000000",
        ])
    );
    assert!(e.peer(3).serving());
    // Server 2 is still syncing (its NEWLEADER ACK is in flight): it gets live proposals.
    assert_eq!(
        e.client_connect(3),
        lines(&[
            "< client: connect",
            "> append 0x100000001",
            "> 1: PROPOSAL 0x100000001",
            "> 2: PROPOSAL 0x100000001",
        ])
    );
}

/// NEWLEADER after a DIFF (`Learner.syncWithLeader` in 3.9.3): the follower logs and
/// applies the txns the leader committed in the sync, and only once they are fsynced
/// persists currentEpoch and then ACKs NEWLEADER (ZOOKEEPER-3911, 4643, 4646).
#[test]
fn follower_acks_newleader_only_after_the_diff_is_logged_and_epoch_persisted() {
    let mut e = Ensemble::elected_with_one_write();
    e.crash(1);
    e.client_connect(3);
    e.deliver_all(); // 0x100000002 on 2 and 3 only
    e.hold_fsync(1);
    e.restart(1);
    let m = e.mark();
    e.advance(ELECTION_MS);
    assert_eq!(
        e.zab_lines(1, m),
        lines(&[
            "* decided 3",
            "> connect 3",
            "< connected 3",
            "> 3: FOLLOWERINFO 1",
            "< 3: LEADERINFO 1",
            "> 3: ACKEPOCH same 0x100000001",
            "< 3: DIFF 0x100000002",
            "< 3: PROPOSAL 0x100000002",
            "< 3: COMMIT 0x100000002",
            "< 3: NEWLEADER 0x100000000",
            "* delivered 0x100000002",
            "> append 0x100000002",
        ]),
        "no currentEpoch, no ACK before the fsync"
    );
    assert_eq!(
        e.fsync(1),
        lines(&[
            "< logged 0x100000002",
            "> currentEpoch 1",
            "> 3: ACK 0x100000000",
        ])
    );
    e.deliver_all();
    assert_eq!(
        e.lines(1, m).last().map(String::as_str),
        Some("< 3: UPTODATE")
    );
    assert!(e.peer(1).serving());
}

/// TRUNC: the old leader logged 0x100000002 alone and crashed before its PROPOSALs left.
/// The others go on in epoch 2 without it; when the old leader comes back as a follower,
/// its last zxid is past the new leader's committed log, so it is told to cut its log back
/// to 0x100000001, reloads, snapshots (fsynced) and only then persists currentEpoch and ACKs.
#[test]
fn follower_with_a_divergent_tail_is_truncated() {
    let mut e = Ensemble::elected_with_one_write();
    e.client_connect(3); // 3 logs 0x100000002...
    e.crash(3); // ...and its PROPOSALs die with it
    e.advance(ELECTION_MS);
    assert_eq!(e.leader(), 2);
    assert_eq!(e.nodes[&3].disk.logged_zxids(), [z(1, 1), z(1, 2)]);
    let m = e.mark();
    e.restart(3);
    e.advance(ELECTION_MS);
    assert_eq!(e.role(3), ZkRole::Following);
    assert_eq!(
        e.zab_lines(3, m),
        lines(&[
            "* decided 2",
            "> connect 2",
            "< connected 2",
            "> 2: FOLLOWERINFO 1",
            "< 2: LEADERINFO 2",
            "> acceptedEpoch 2",
            "> 2: ACKEPOCH 1 0x100000002",
            "< 2: TRUNC 0x100000001",
            "> truncate 0x100000001",
            "* truncated 0x100000001",
            "< reloaded 0x100000001",
            "< 2: NEWLEADER 0x200000000",
            "> snapshot 0x100000001",
            "> currentEpoch 2",
            "> 2: ACK 0x200000000",
            "< 2: UPTODATE",
        ])
    );
    assert_eq!(e.nodes[&3].disk.logged_zxids(), [z(1, 1)]);
    assert_eq!(e.peer(3).db().last_processed, z(1, 1));
}

/// DIFF: a follower that missed one committed txn gets exactly that txn (PROPOSAL then
/// COMMIT) between DIFF and NEWLEADER, and applies it once NEWLEADER arrives.
#[test]
fn follower_slightly_behind_gets_a_diff_of_the_missing_txn() {
    let mut e = Ensemble::elected_with_one_write();
    e.crash(1);
    e.client_connect(3);
    e.deliver_all(); // 0x100000002 on 2 and 3 only
    let m = e.mark();
    e.restart(1);
    e.advance(ELECTION_MS);
    let sync: Vec<String> = e
        .zab_lines(3, m)
        .into_iter()
        .filter(|l| l.starts_with("> 1: ") || l.starts_with("< 1: "))
        .collect();
    assert_eq!(
        sync,
        lines(&[
            "< 1: FOLLOWERINFO 1",
            "> 1: LEADERINFO 1",
            "< 1: ACKEPOCH same 0x100000001",
            "> 1: DIFF 0x100000002",
            "> 1: PROPOSAL 0x100000002",
            "> 1: COMMIT 0x100000002",
            "> 1: NEWLEADER 0x100000000",
            "< 1: ACK 0x100000000",
            "> 1: UPTODATE",
        ])
    );
    assert_eq!(e.peer(1).db().last_processed, z(1, 2));
    assert_eq!(e.peer(1).db().tree.digest(), e.peer(3).db().tree.digest());
}

/// SNAP: a leader recovered from a snapshot has an empty committed log, so a follower
/// whose last zxid is before it (P < min) gets the whole tree, labelled with the leader's
/// last zxid, and snapshots it (fsynced) at NEWLEADER before persisting currentEpoch.
#[test]
fn follower_behind_the_committed_log_gets_a_snap() {
    let mut e = Ensemble::elected_with_one_write();
    e.crash(1);
    e.client_connect(3);
    e.deliver_all(); // 0x100000002 on 2 and 3
                     // Server 3 leads again in epoch 2 and snapshots 0x200000000 when established; recovered
                     // from that snapshot, it holds no committed log.
    e.crash(3);
    e.restart(3);
    e.advance(ELECTION_MS);
    assert_eq!(e.leader(), 3);
    e.crash(3);
    e.restart(3);
    e.advance(ELECTION_MS);
    assert_eq!(e.leader(), 3);
    assert!(e.peer(3).db().committed_log.is_empty());
    let m = e.mark();
    e.restart(1);
    e.advance(ELECTION_MS);
    assert_eq!(
        e.zab_lines(1, m),
        lines(&[
            "* decided 3",
            "> connect 3",
            "< connected 3",
            "> 3: FOLLOWERINFO 1",
            "< 3: LEADERINFO 3",
            "> acceptedEpoch 3",
            "> 3: ACKEPOCH 1 0x100000001",
            "< 3: SNAP 0x300000000",
            "* snap loaded 0x300000000",
            "< 3: NEWLEADER 0x300000000",
            "> snapshot 0x300000000",
            "> currentEpoch 3",
            "> 3: ACK 0x300000000",
            "< 3: UPTODATE",
        ])
    );
    assert_eq!(e.peer(1).db().tree.digest(), e.peer(3).db().tree.digest());
    assert_eq!(e.peer(1).db().tree.sessions().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Broadcast

/// A follower ACKs a proposal only once its log append is fsynced, even if the COMMIT
/// (made by the other follower's ACK) arrives first.
#[test]
fn follower_acks_a_proposal_only_after_its_fsync() {
    let mut e = Ensemble::elected(3);
    e.hold_fsync(1);
    let m = e.mark();
    e.client_connect(3);
    e.deliver_all();
    assert_eq!(
        e.zab_lines(1, m),
        lines(&[
            "< 3: PROPOSAL 0x100000001",
            "> append 0x100000001",
            "< 3: COMMIT 0x100000001",
            "* delivered 0x100000001",
        ])
    );
    assert_eq!(
        e.fsync(1),
        lines(&["< logged 0x100000001", "> 3: ACK 0x100000001"])
    );
}

/// A client write on the leader is appended and PROPOSED to the followers; it is
/// COMMITTED only with a quorum of ACKs, where the leader's own ACK counts only once its
/// append is fsynced (with one follower down, that follower's ACK is not enough alone).
#[test]
fn write_commits_only_with_a_quorum_counting_the_leader_after_its_fsync() {
    let mut e = Ensemble::elected(3);
    e.crash(2);
    e.deliver_all();
    e.hold_fsync(3);
    assert_eq!(
        e.client_connect(3),
        lines(&[
            "< client: connect",
            "> append 0x100000001",
            "> 1: PROPOSAL 0x100000001",
        ])
    );
    let m = e.mark();
    e.deliver_all();
    assert_eq!(e.zab_lines(3, m), lines(&["< 1: ACK 0x100000001"]));
    assert_eq!(
        e.fsync(3),
        lines(&[
            "< logged 0x100000001",
            "> 1: COMMIT 0x100000001",
            "* committed 0x100000001",
            "* delivered 0x100000001",
            "> client: Connected",
        ])
    );
}

/// Commits go out strictly in zxid order: a quorum for 0x100000002 (as from followers
/// whose ACKs race, in a larger ensemble) commits nothing while 0x100000001 lacks one; its
/// quorum then commits both, in order, and the follower delivers them in order.
#[test]
fn commits_are_in_zxid_order_even_when_a_later_proposal_has_its_quorum_first() {
    let mut e = Ensemble::elected(3);
    e.crash(2);
    e.deliver_all();
    e.hold_fsync(1);
    e.hold_fsync(3);
    e.client_connect(3);
    e.client_connect(3);
    e.deliver_all(); // server 1 appended both, waiting for its fsync
    let conn = e.conn(3, 1);
    let ack2 = Input::Zab {
        conn,
        msg: ZabMsg::Ack { zxid: z(1, 2) },
    };
    assert_eq!(e.step(3, ack2), lines(&["< 1: ACK 0x100000002"]));
    assert_eq!(e.fsync(3), lines(&["< logged 0x100000002"]));
    let m = e.mark();
    assert_eq!(
        e.fsync(1),
        lines(&[
            "< logged 0x100000002",
            "> 3: ACK 0x100000001",
            "> 3: ACK 0x100000002",
        ])
    );
    e.deliver_all();
    assert_eq!(
        e.zab_lines(3, m),
        lines(&[
            "< 1: ACK 0x100000001",
            "> 1: COMMIT 0x100000001",
            "* committed 0x100000001",
            "* delivered 0x100000001",
            "> client: Connected",
            "> 1: COMMIT 0x100000002",
            "* committed 0x100000002",
            "* delivered 0x100000002",
            "> client: Connected",
            "< 1: ACK 0x100000002",
        ])
    );
    let delivered: Vec<String> = e
        .zab_lines(1, m)
        .into_iter()
        .filter(|l| l.starts_with("* delivered"))
        .collect();
    assert_eq!(
        delivered,
        lines(&["* delivered 0x100000001", "* delivered 0x100000002"])
    );
}

/// ZOOKEEPER-1154: the old leader's divergent 0x100000002 lies inside the new leader's
/// committed window (0x100000001 .. 0x200000001) but is not in it, and the next txn is of
/// a later epoch, so no TRUNC can cut it: the follower gets a SNAP and loses it.
#[test]
fn follower_with_a_divergent_txn_inside_the_leaders_log_gets_a_snap() {
    let mut e = Ensemble::elected_with_one_write();
    e.client_connect(3); // 3 logs 0x100000002...
    e.crash(3); // ...and its PROPOSALs die with it
    e.advance(ELECTION_MS);
    assert_eq!(e.leader(), 2);
    e.client_connect(2);
    e.deliver_all(); // 0x200000001 on 1 and 2
    let m = e.mark();
    e.restart(3);
    e.advance(ELECTION_MS);
    assert_eq!(
        e.zab_lines(3, m),
        lines(&[
            "* decided 2",
            "> connect 2",
            "< connected 2",
            "> 2: FOLLOWERINFO 1",
            "< 2: LEADERINFO 2",
            "> acceptedEpoch 2",
            "> 2: ACKEPOCH 1 0x100000002",
            "< 2: SNAP 0x200000001",
            "* snap loaded 0x200000001",
            "< 2: NEWLEADER 0x200000000",
            "> snapshot 0x200000001",
            "> currentEpoch 2",
            "> 2: ACK 0x200000000",
            "< 2: UPTODATE",
        ])
    );
    assert_eq!(e.peer(3).db().tree.digest(), e.peer(2).db().tree.digest());
}

/// A proposal outstanding when a follower syncs (`packetsNotLogged`) is neither logged
/// nor ACKed at NEWLEADER (ZOOKEEPER-4394, 4685); its COMMIT, arriving between NEWLEADER
/// and UPTODATE, waits in `packetsCommitted`. At UPTODATE the follower logs the proposal,
/// applies the commit, and ACKs once the append is fsynced.
#[test]
fn proposal_outstanding_at_sync_is_logged_and_committed_after_uptodate() {
    let mut e = Ensemble::elected_with_one_write();
    e.crash(1);
    e.hold_fsync(3);
    e.client_connect(3);
    e.deliver_all(); // 0x100000002: ACKed by 2, not yet by the leader itself
    let m = e.mark();
    e.restart(1);
    let newleader_ack = |to: Sid, l: &str| to == 3 && l == "1: ACK 0x100000000";
    assert!(e.advance_until(ELECTION_MS, newleader_ack));
    assert_eq!(
        e.fsync(3),
        lines(&[
            "< logged 0x100000002",
            "> 2: COMMIT 0x100000002",
            "> 1: COMMIT 0x100000002",
            "* committed 0x100000002",
            "* delivered 0x100000002",
            "> client: Connected",
        ])
    );
    e.deliver_all();
    assert_eq!(
        e.zab_lines(1, m),
        lines(&[
            "* decided 3",
            "> connect 3",
            "< connected 3",
            "> 3: FOLLOWERINFO 1",
            "< 3: LEADERINFO 1",
            "> 3: ACKEPOCH same 0x100000001",
            "< 3: DIFF 0x100000001",
            "< 3: PROPOSAL 0x100000002",
            "< 3: NEWLEADER 0x100000000",
            "> currentEpoch 1",
            "> 3: ACK 0x100000000",
            "< 3: COMMIT 0x100000002",
            "< 3: UPTODATE",
            "> append 0x100000002",
            "* delivered 0x100000002",
            "< logged 0x100000002",
            "> 3: ACK 0x100000002",
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Leader activation and sessions

/// Sessions in the whole ensemble's history, after it restarts `quiet_ms` later with no
/// client around: the number left in the leader's tree `alive_ms` after the restart, and
/// the sessions the leader started expiring meanwhile.
fn sessions_after_restart(n: u64, quiet_ms: u64, alive_ms: u64) -> (usize, Vec<String>) {
    let mut e = Ensemble::elected(n);
    let leader = e.leader();
    e.client_connect(leader);
    e.deliver_all();
    assert_eq!(e.peer(leader).db().tree.sessions().len(), 1);
    for sid in 1..=n {
        e.crash(sid);
    }
    e.advance(quiet_ms);
    let m = e.mark();
    for sid in 1..=n {
        e.restart(sid);
    }
    e.advance(alive_ms);
    let leader = e.leader();
    let expiring = (1..=n)
        .flat_map(|sid| e.lines(sid, m))
        .filter(|l| l.starts_with("* expiring"))
        .collect();
    (e.peer(leader).db().tree.sessions().len(), expiring)
}

/// A new leader renews every session from the time it is established (the clients get a
/// whole timeout, 10 s here, to reconnect): 5 s after the ensemble restarts a minute later,
/// the session is still there.
#[test]
fn restarted_ensemble_renews_sessions_from_the_new_leaders_establishment() {
    assert_eq!(sessions_after_restart(3, 60_000, 5_000), (1, vec![]));
}

/// The same for a standalone server (an ensemble of one), whose NEWLEADER quorum (the
/// leader alone) forms as soon as its epoch is accepted. Found by this test: the leader
/// renewed every session from local time 0 there, so a restarted standalone server expired
/// each session at once, before any client could reconnect (`SessionDeadline { touch_ms: 0,
/// deadline_ms: 12000 }`, then `SessionExpiring` 200 ms after the restart).
#[test]
fn restarted_standalone_server_renews_sessions_from_its_establishment() {
    assert_eq!(sessions_after_restart(1, 60_000, 5_000), (1, vec![]));
}

/// A follower refuses a LEADERINFO whose epoch is below the epoch it already accepted
/// (`Learner.registerWithLeader`: "Leaders epoch ... is less than accepted epoch"): it
/// neither persists nor ACKs it, and goes back to LOOKING. Server 2 promised epoch 9, but
/// servers 1 and 3 made the epoch quorum first and chose epoch 1.
#[test]
fn follower_refuses_a_leaderinfo_below_its_accepted_epoch() {
    let mut db2 = Database::empty();
    db2.accepted_epoch = 9;
    let mut e = Ensemble::with_databases(vec![Database::empty(), db2, Database::empty()]);
    e.start_all();
    let leaderinfo_to_2 = |to: Sid, l: &str| to == 2 && l.contains("LEADERINFO");
    assert!(e.advance_until(ELECTION_MS, leaderinfo_to_2));
    let (to, refused) = e.deliver_one().expect("LEADERINFO");
    assert_eq!(to, 2);
    assert_eq!(
        refused
            .into_iter()
            .filter(|l| !l.contains("vote") && !l.starts_with("* "))
            .collect::<Vec<_>>(),
        lines(&["< 3: LEADERINFO 1", "> close 3"])
    );
    assert_eq!(e.role(2), ZkRole::Looking);
    assert_eq!(e.nodes[&2].disk.accepted_epoch, 9);
}

/// The leader checks its quorum every half tick: with both followers' connections closed
/// it hears only itself, steps down at the next check and goes LOOKING; with one follower
/// left it stays.
#[test]
fn leader_steps_down_at_the_next_tick_without_a_quorum() {
    let mut e = Ensemble::elected(3);
    e.crash(1);
    e.advance(TICK_MS);
    assert_eq!(
        e.role(3),
        ZkRole::Leading,
        "itself and server 2 are a quorum"
    );
    e.crash(2);
    e.deliver_all();
    assert_eq!(e.role(3), ZkRole::Leading, "until its next check");
    let tick_at = e.nodes[&3].timers[&Timer::Tick];
    assert!(
        tick_at <= e.now_ms + TICK_MS / 2,
        "the next check is half a tick away"
    );
    assert_eq!(
        e.fire(3, Timer::Tick),
        lines(&[
            "< timer Tick",
            "* stepped down 1",
            "> 1: vote 3",
            "> 2: vote 3"
        ])
    );
    assert_eq!(e.role(3), ZkRole::Looking);
    let stepped_down: Vec<&ZkEvent> = e
        .events_of(3)
        .into_iter()
        .filter(|ev| matches!(ev, ZkEvent::SteppedDown { .. }))
        .collect();
    assert!(
        matches!(stepped_down[..], [ZkEvent::SteppedDown { reason, .. }] if reason.starts_with("lost quorum")),
        "{stepped_down:?}"
    );
}

/// The leader takes the first packet after NEWLEADER as the NEWLEADER ACK
/// (`LearnerHandler`, `Leader.waitForNewLeaderAck`): a proposal's ACK there (the
/// ZOOKEEPER-4685 order) is a protocol error and is not counted, so server 1's lost
/// NEWLEADER ACK leaves the leader unestablished until server 2's arrives; both then get
/// UPTODATE.
#[test]
fn leader_counts_only_a_newleader_ack_first_after_newleader() {
    let mut e = Ensemble::new(3);
    e.start_all();
    assert!(e.advance_until(ELECTION_MS, |to, l| to == 3 && l == "1: ACK 0x100000000"));
    assert_eq!(e.drop_next().as_deref(), Some("1: ACK 0x100000000"));
    let forged = Input::Zab {
        conn: e.conn(3, 1),
        msg: ZabMsg::Ack { zxid: z(1, 1) },
    };
    assert_eq!(
        e.step(3, forged),
        lines(&["< 1: ACK 0x100000001", "* protocol error: ACK 0x100000001"])
    );
    assert!(!e.peer(3).serving());
    assert!(e.deliver_until(|to, l| to == 3 && l == "2: ACK 0x100000000"));
    let (_, established) = e.deliver_one().expect("server 2's NEWLEADER ACK");
    assert_eq!(
        established,
        lines(&[
            "< 2: ACK 0x100000000",
            "* established 1",
            "> 1: UPTODATE",
            "> 2: UPTODATE",
            "> snapshot 0x100000000",
        ])
    );
    let quorum: Vec<&ZkEvent> = e
        .events_of(3)
        .into_iter()
        .filter(|ev| matches!(ev, ZkEvent::LeaderEstablished { .. }))
        .collect();
    assert!(
        matches!(quorum[..], [ZkEvent::LeaderEstablished { quorum, .. }] if *quorum == [2, 3]),
        "{quorum:?}"
    );
}
