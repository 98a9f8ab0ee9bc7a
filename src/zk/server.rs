//! The host of one ZooKeeper server on the simulator: owns the connections, timers and the
//! disk, feeds the [`Peer`] state machine and carries out its outputs in order.
//!
//! Log appends go to a separate disk task (ZooKeeper's SyncRequestProcessor): it groups
//! queued appends, fsyncs once, and reports [`Input::Logged`]; the main loop keeps running
//! meanwhile. Every other durable write waits for earlier appends first (a barrier), so
//! writes reach the disk in the order the peer asked for them. The main loop waits for
//! those writes (epoch files, the snapshot of a sync, a truncation: ZooKeeper's peer thread
//! makes them itself) except a periodic snapshot, which a task of its own writes (ZooKeeper's
//! snapshot thread), so a slow disk delays commits but not session expiry or pings.

use super::election_send::ElectionSendQueues;
use super::ids::{Sid, Zxid};
use super::storage::{RecoveryRefused, Storage};
use super::txn::Txn;
use super::wire::{ZkMessage, ZkWire};
use super::zab::{Input, Output, Peer, PeerConfig, PeerStatus, PersistOp, Timer};
use crate::history::{Event, ZkEvent};
use futures::FutureExt;
use kzsim_sim::net::NetEvent;
use kzsim_sim::time::Alarm;
use kzsim_sim::{ConnId, SimTime};

/// What a server node receives when it starts, on a network of messages `M`.
type NetCtx<M> = kzsim_sim::NodeCtx<Event, M>;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Everything needed to start one server (shared by its incarnations).
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The peer's configuration.
    pub peer: PeerConfig,
    /// Node name of every server, by sid.
    pub names: BTreeMap<Sid, String>,
    /// autopurge.snapRetainCount when autopurge is on (purgeInterval > 0), else `None`.
    pub purge_retain: Option<usize>,
}

/// A live view of a running server for the harness: status, and the peer itself for
/// end-of-run comparisons. `None` while the server is down.
pub type ServerSlot = Arc<Mutex<Option<Peer>>>;

enum DiskCmd {
    Append(Vec<Arc<Txn>>),
    /// Later appends go to a new log file.
    Roll,
    Barrier(oneshot::Sender<()>),
}

/// The disk task: appends in order, one fsync per batch (per log file, if a roll split
/// the batch), then reports the newest zxid.
async fn disk_task(
    storage: Rc<RefCell<Storage>>,
    mut rx: mpsc::UnboundedReceiver<DiskCmd>,
    logged: mpsc::UnboundedSender<Zxid>,
) {
    while let Some(cmd) = rx.recv().await {
        let mut batch = vec![cmd];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut last = None;
        let mut barriers = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for c in batch {
            match c {
                DiskCmd::Append(txns) => {
                    last = txns.last().map(|t| t.header.zxid).or(last);
                    if let Some(p) = storage.borrow_mut().append(&txns) {
                        if !paths.contains(&p) {
                            paths.push(p);
                        }
                    }
                }
                DiskCmd::Roll => storage.borrow_mut().start_new_log(),
                DiskCmd::Barrier(tx) => barriers.push(tx),
            }
        }
        for p in paths {
            let disk = storage.borrow().disk().clone();
            disk.fsync(&p).await;
        }
        if let Some(z) = last {
            let _ = logged.send(z);
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}

fn local_ms<M: ZkMessage>(ctx: &NetCtx<M>) -> u64 {
    ctx.clock.local_now() / 1_000_000
}

/// The server's process exits because its storage refused to load (at start, or when a
/// TRUNC sync reloads it): the refusal is recorded, the harness sees the server down, and
/// the node refuses connections from then on.
async fn exit_refused<M: ZkMessage>(ctx: NetCtx<M>, slot: &ServerSlot, refused: RecoveryRefused) {
    ctx.trace.record(
        &ctx.name,
        Event::Zk(ZkEvent::RecoveryRefused {
            last_logged: refused.last_logged.0,
        }),
    );
    *slot.lock().expect("slot lock") = None;
    refuse_connections(ctx).await
}

/// A server process that exited: nothing listens, so every connection a peer or client
/// opens is closed at once (connection refused), until the node is killed or restarted.
async fn refuse_connections<M: ZkMessage>(mut ctx: NetCtx<M>) {
    while let Some(ev) = ctx.inbox.recv().await {
        match ev {
            NetEvent::Accepted { conn, .. } | NetEvent::Message { conn, .. } => {
                ctx.endpoint.close(conn)
            }
            NetEvent::Closed { .. } => {}
        }
    }
}

/// Runs one server incarnation until the node is killed.
pub async fn run_server<M: ZkMessage>(mut ctx: NetCtx<M>, spec: Arc<ServerSpec>, slot: ServerSlot) {
    // ZooKeeper leaves its snapshots to the OS's writeback.
    ctx.disk.set_periodic_writeback();
    let storage = Rc::new(RefCell::new(Storage::new(
        ctx.disk.clone(),
        spec.purge_retain,
    )));
    storage.borrow_mut().tree_flags = crate::zk::datatree::TreeFlags {
        zk1046_replay_increments_counter: spec.peer.bugs.replay_increments_counter,
    };
    let recovered = storage.borrow_mut().recover();
    let (db, info) = match recovered {
        Ok(recovered) => recovered,
        Err(refused) => return exit_refused(ctx, &slot, refused).await,
    };
    ctx.trace.record(
        &ctx.name,
        Event::Zk(ZkEvent::Recovered {
            last_zxid: db.last_processed.0,
            snapshot_zxid: info.snapshot_zxid.0,
            accepted_epoch: db.accepted_epoch,
            current_epoch: db.current_epoch,
            log_records: info.replayed,
        }),
    );
    let (disk_tx, disk_rx) = mpsc::unbounded_channel();
    let (logged_tx, mut logged_rx) = mpsc::unbounded_channel();
    madsim::task::spawn_local(disk_task(storage.clone(), disk_rx, logged_tx));

    let mut host = Host {
        election: BTreeMap::new(),
        election_in: BTreeMap::new(),
        election_send: ElectionSendQueues::new(),
        timers: BTreeMap::new(),
        pending: VecDeque::new(),
    };
    let mut peer = Peer::new(spec.peer.clone(), db, ctx.seed);
    let outs = peer.start(local_ms(&ctx));
    *slot.lock().expect("slot lock") = Some(peer);
    if let Err(refused) = host.carry_out(&ctx, &spec, &storage, &disk_tx, outs).await {
        return exit_refused(ctx, &slot, refused).await;
    }

    let mut alarm = Alarm::new();
    let mut send_alarm = Alarm::new();
    loop {
        let input = match host.pending.pop_front() {
            Some(i) => i,
            None => {
                let next = host
                    .timers
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(t, at)| (*t, *at));
                let sleep = match next {
                    Some((_, at)) => {
                        let due = SimTime::now().plus(ctx.clock.sim_duration_until(at * 1_000_000));
                        alarm.wait_until(due).boxed_local()
                    }
                    None => futures::future::pending().boxed_local(),
                };
                let send_due = match host.election_send.next_due() {
                    Some(at) => send_alarm.wait_until(SimTime(at)).boxed_local(),
                    None => futures::future::pending().boxed_local(),
                };
                futures::select_biased! {
                    ev = ctx.inbox.recv().fuse() => match ev {
                        Some(ev) => match host.translate(&ctx, &spec, ev) { Some(i) => i, None => continue },
                        None => return,
                    },
                    z = logged_rx.recv().fuse() => match z { Some(upto) => Input::Logged { upto }, None => return },
                    _ = sleep.fuse() => {
                        let (t, _) = next.expect("a timer was armed");
                        host.timers.remove(&t);
                        Input::Timer(t)
                    }
                    _ = send_due.fuse() => {
                        for (to, n) in host.election_send.take_due(SimTime::now().0) {
                            host.send_election(&ctx, &spec, to, n);
                        }
                        continue;
                    }
                }
            }
        };
        let now = local_ms(&ctx);
        let outs = {
            let mut guard = slot.lock().expect("slot lock");
            let peer = guard.as_mut().expect("peer present while running");
            peer.step(now, input)
        };
        if let Err(refused) = host.carry_out(&ctx, &spec, &storage, &disk_tx, outs).await {
            return exit_refused(ctx, &slot, refused).await;
        }
    }
}

struct Host {
    /// Outgoing election links by sid (re-dialled when they break).
    election: BTreeMap<Sid, ConnId>,
    /// The connection each peer's election notifications last came in on: a notification
    /// on another one is the first of a new connection (at most one entry per peer).
    election_in: BTreeMap<Sid, ConnId>,
    /// What waits for each election link's send worker.
    election_send: ElectionSendQueues,
    timers: BTreeMap<Timer, u64>,
    pending: VecDeque<Input>,
}

impl Host {
    /// Hands a notification for `to` to its send queue, sending it now if the peer's send
    /// worker is free (else `take_due` hands it out later).
    fn offer_election<M: ZkMessage>(
        &mut self,
        ctx: &NetCtx<M>,
        spec: &ServerSpec,
        to: Sid,
        n: super::fle::Notification,
    ) {
        if let Some(n) = self.election_send.offer(SimTime::now().0, to, n) {
            self.send_election(ctx, spec, to, n);
        }
    }

    /// Puts a notification on the election link to `to`, dialling it if it is not up.
    fn send_election<M: ZkMessage>(
        &mut self,
        ctx: &NetCtx<M>,
        spec: &ServerSpec,
        to: Sid,
        n: super::fle::Notification,
    ) {
        let Some(name) = spec.names.get(&to) else {
            return;
        };
        let msg = M::from_zk(ZkWire::Election {
            from: spec.peer.sid,
            n,
        });
        let conn = *self
            .election
            .entry(to)
            .or_insert_with(|| ctx.endpoint.connect(name));
        if ctx.endpoint.send(conn, msg.clone()).is_err() {
            let conn = ctx.endpoint.connect(name);
            self.election.insert(to, conn);
            let _ = ctx.endpoint.send(conn, msg);
        }
    }

    /// The peer's input for a network event. The first notification of a peer's new
    /// election connection also sends that peer our latest notification for it first, as
    /// a new connection's `SendWorker` does ([`ElectionSendQueues::latest`]).
    fn translate<M: ZkMessage>(
        &mut self,
        ctx: &NetCtx<M>,
        spec: &ServerSpec,
        ev: NetEvent<M>,
    ) -> Option<Input> {
        match ev {
            NetEvent::Accepted { .. } => None,
            NetEvent::Message { conn, packet, .. } => match packet.msg.into_zk() {
                Some(ZkWire::Election { from, n }) => {
                    if self.election_in.insert(from, conn) != Some(conn) {
                        if let Some(latest) = self.election_send.latest(from) {
                            self.offer_election(ctx, spec, from, latest);
                        }
                    }
                    Some(Input::Election { from, n })
                }
                Some(ZkWire::Zab(msg)) => Some(Input::Zab { conn, msg }),
                Some(ZkWire::Client(msg)) => Some(Input::Client { conn, msg }),
                Some(ZkWire::Server(_)) | None => None,
            },
            NetEvent::Closed { conn, .. } => {
                if let Some((&sid, _)) = self.election.iter().find(|(_, c)| **c == conn) {
                    self.election.remove(&sid);
                    return None;
                }
                Some(Input::Closed { conn })
            }
        }
    }

    async fn carry_out<M: ZkMessage>(
        &mut self,
        ctx: &NetCtx<M>,
        spec: &ServerSpec,
        storage: &Rc<RefCell<Storage>>,
        disk_tx: &mpsc::UnboundedSender<DiskCmd>,
        outs: Vec<Output>,
    ) -> Result<(), RecoveryRefused> {
        for o in outs {
            match o {
                Output::Election { to, n } => self.offer_election(ctx, spec, to, n),
                Output::ConnectToLeader { leader } => {
                    if let Some(name) = spec.names.get(&leader) {
                        let conn = ctx.endpoint.connect(name);
                        self.pending
                            .push_front(Input::LeaderConnected { leader, conn });
                    }
                }
                Output::Send { conn, msg } => {
                    let _ = ctx.endpoint.send(conn, M::from_zk(msg));
                }
                Output::Close { conn } => ctx.endpoint.close(conn),
                Output::SetTimer { timer, at_ms } => {
                    self.timers.insert(timer, at_ms);
                }
                Output::Append(txns) => {
                    let _ = disk_tx.send(DiskCmd::Append(txns));
                }
                Output::RollLog => {
                    let _ = disk_tx.send(DiskCmd::Roll);
                }
                Output::Persist(PersistOp::Snapshot {
                    zxid,
                    tree,
                    sync: false,
                    roll_log: false,
                }) => {
                    // A periodic snapshot: ZooKeeper's SyncRequestProcessor rolls the log
                    // and hands the fuzzy tree to a snapshot thread, and nothing waits for
                    // it. It still follows the appends queued before it (the barrier), but
                    // the peer (sessions, pings, requests) runs on meanwhile: on a slow
                    // disk that wait is seconds.
                    let (tx, rx) = oneshot::channel();
                    let _ = disk_tx.send(DiskCmd::Barrier(tx));
                    let disk = storage.borrow().disk().clone();
                    let purge_retain = spec.purge_retain;
                    madsim::task::spawn_local(async move {
                        if rx.await.is_ok() {
                            Storage::new(disk, purge_retain)
                                .write_snapshot(zxid, &tree, false)
                                .await;
                        }
                    });
                }
                Output::Persist(op) => {
                    let (tx, rx) = oneshot::channel();
                    let _ = disk_tx.send(DiskCmd::Barrier(tx));
                    let _ = rx.await;
                    match op {
                        PersistOp::AcceptedEpoch(e) => {
                            let disk = storage.borrow().disk().clone();
                            disk.write_durable("acceptedEpoch", e.to_string().as_bytes())
                                .await
                        }
                        PersistOp::CurrentEpoch(e) => {
                            let disk = storage.borrow().disk().clone();
                            disk.write_durable("currentEpoch", e.to_string().as_bytes())
                                .await
                        }
                        PersistOp::Snapshot {
                            zxid,
                            tree,
                            sync,
                            roll_log,
                        } => {
                            let mut s =
                                Storage::new(storage.borrow().disk().clone(), spec.purge_retain);
                            s.write_snapshot(zxid, &tree, sync).await;
                            if roll_log {
                                storage.borrow_mut().start_new_log();
                            }
                        }
                        PersistOp::Truncate { to } => {
                            let reloaded = {
                                let mut s = storage.borrow_mut();
                                s.truncate(to);
                                s.recover()
                            };
                            match reloaded {
                                Ok((db, _)) => {
                                    self.pending.push_front(Input::Reloaded(Box::new(db)))
                                }
                                // ZKDatabase.truncateLog reloads through the same restore,
                                // and its IOException ends the learner's process.
                                Err(refused) => return Err(refused),
                            }
                        }
                    }
                }
                Output::Record(e) => ctx.trace.record(&ctx.name, Event::Zk(e)),
            }
        }
        Ok(())
    }
}

/// The status of a running server, or `None` if it is down.
pub fn status(slot: &ServerSlot) -> Option<PeerStatus> {
    slot.lock().expect("slot lock").as_ref().map(|p| p.status())
}
