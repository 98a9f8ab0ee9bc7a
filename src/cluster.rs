//! A simulated cluster inside one [`World`]: a ZooKeeper ensemble, client processes, and
//! the queries a scenario needs ("who leads now?") and the end-of-run collection of the
//! history.

use crate::history::{Event, ZkEvent, ZkRole};
use crate::history::{History, Recorder};
use crate::net::{NodeCtx, World};
use crate::zk::client::{ClientConfig, ZkClient};
use crate::zk::ids::Sid;
use crate::zk::server::{run_server, ServerSlot, ServerSpec};
use crate::zk::zab::{PeerConfig, PeerStatus, ZkBugs};
use kzsim_sim::NodeSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The shape of a ZooKeeper ensemble.
#[derive(Clone, Debug)]
pub struct EnsembleSpec {
    /// Number of servers (`zk1`..`zkN`, sids 1..N).
    pub servers: usize,
    /// tickTime.
    pub tick_ms: u64,
    /// initLimit in ticks.
    pub init_limit: u64,
    /// syncLimit in ticks.
    pub sync_limit: u64,
    /// readonlymode.enabled.
    pub read_only: bool,
    /// snapCount.
    pub snap_count: u64,
    /// autopurge: keep this many snapshots (`None`: autopurge off, the default).
    pub purge_retain: Option<usize>,
    /// Unix time in milliseconds at simulated time zero (see
    /// [`DEFAULT_WALL_CLOCK_START_MS`]).
    pub wall_clock_start_ms: i64,
    /// Bug flags.
    pub bugs: ZkBugs,
}

/// The simulated wall clock's reading at simulated time zero unless a scenario or the
/// command line says otherwise: 2026-01-01T00:00:00Z, a fixed instant so that runs stay
/// reproducible, realistic so that dates print as a real server prints them.
pub const DEFAULT_WALL_CLOCK_START_MS: i64 = 1_767_225_600_000;

impl Default for EnsembleSpec {
    fn default() -> Self {
        EnsembleSpec {
            servers: 3,
            tick_ms: 2_000,
            init_limit: 10,
            sync_limit: 5,
            read_only: false,
            snap_count: 100_000,
            purge_retain: None,
            wall_clock_start_ms: DEFAULT_WALL_CLOCK_START_MS,
            bugs: ZkBugs::default(),
        }
    }
}

impl EnsembleSpec {
    /// Server node names, in sid order.
    pub fn names(&self) -> Vec<String> {
        (1..=self.servers).map(|i| format!("zk{i}")).collect()
    }
}

/// A running cluster. Cloning gives another handle.
#[derive(Clone)]
pub struct Cluster {
    world: World,
    spec: EnsembleSpec,
    servers: Arc<BTreeMap<String, ServerSlot>>,
    recorder: Recorder,
    next_process: Arc<Mutex<u64>>,
}

impl Cluster {
    /// Starts the ensemble's servers in `world`.
    pub fn start(world: &World, spec: EnsembleSpec) -> Cluster {
        let names: BTreeMap<Sid, String> = spec
            .names()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (i as Sid + 1, n))
            .collect();
        let voters: BTreeSet<Sid> = names.keys().copied().collect();
        let mut servers = BTreeMap::new();
        for (&sid, name) in &names {
            let peer = PeerConfig {
                sid,
                voters: voters.clone(),
                tick_ms: spec.tick_ms,
                init_limit: spec.init_limit,
                sync_limit: spec.sync_limit,
                min_session_ms: spec.tick_ms * 2,
                max_session_ms: spec.tick_ms * 20,
                read_only: spec.read_only,
                snap_count: spec.snap_count,
                wall_clock_start_ms: spec.wall_clock_start_ms,
                bugs: spec.bugs,
            };
            let server = Arc::new(ServerSpec {
                peer,
                names: names.clone(),
                purge_retain: spec.purge_retain,
            });
            let slot: ServerSlot = Arc::new(Mutex::new(None));
            let s = slot.clone();
            world.add_node(NodeSpec::new(name.clone()), move |ctx: NodeCtx| {
                let (server, slot) = (server.clone(), s.clone());
                async move {
                    *slot.lock().expect("slot") = None;
                    run_server(ctx, server, slot).await
                }
            });
            servers.insert(name.clone(), slot);
        }
        Cluster {
            world: world.clone(),
            spec,
            servers: Arc::new(servers),
            recorder: Recorder::new(),
            next_process: Arc::new(Mutex::new(0)),
        }
    }

    /// The world the cluster runs in.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The ensemble's shape.
    pub fn spec(&self) -> &EnsembleSpec {
        &self.spec
    }

    /// The client-operation recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Server names.
    pub fn server_names(&self) -> Vec<String> {
        self.servers.keys().cloned().collect()
    }

    /// A server's status, or `None` if it is down.
    pub fn status(&self, name: &str) -> Option<PeerStatus> {
        if self.world.state(name) == kzsim_sim::world::NodeState::Down {
            return None;
        }
        self.servers.get(name).and_then(crate::zk::server::status)
    }

    /// The server that leads and serves now, if exactly one does (with the highest epoch
    /// if a deposed leader has not noticed yet).
    pub fn zk_leader(&self) -> Option<String> {
        self.servers
            .keys()
            .filter_map(|n| self.status(n).map(|s| (n, s)))
            .filter(|(_, s)| s.role == Some(ZkRole::Leading) && s.serving())
            .max_by_key(|(_, s)| s.epoch)
            .map(|(n, _)| n.clone())
    }

    /// Runs `f` on a server's peer (e.g. to read its tree at the end of a run).
    pub fn with_peer<R>(
        &self,
        name: &str,
        f: impl FnOnce(&crate::zk::zab::Peer) -> R,
    ) -> Option<R> {
        let slot = self.servers.get(name)?;
        let guard = slot.lock().expect("slot");
        guard.as_ref().map(f)
    }

    /// Records, for every server that is up and serving, its last applied zxid and its
    /// tree's digest (`ZkEvent::FinalTree`), so the checkers can compare replicas at the end
    /// of a run, and its ephemerals with their owners and its session table
    /// (`ZkEvent::FinalEphemerals`), so `zk.ephemerals.lifetime` can judge what outlived
    /// its session.
    pub fn record_final_trees(&self) {
        for name in self.servers.keys() {
            if !self.status(name).is_some_and(|s| s.serving()) {
                continue;
            }
            let Some((zxid, digest, ephemerals, sessions)) = self.with_peer(name, |p| {
                let tree = &p.db().tree;
                let ephemerals: Vec<(String, i64)> = tree
                    .all_ephemerals()
                    .iter()
                    .flat_map(|(s, paths)| paths.iter().map(move |path| (path.clone(), *s)))
                    .collect();
                let sessions: Vec<i64> = tree.sessions().keys().copied().collect();
                (
                    p.db().last_processed.0,
                    tree.nodes_digest(),
                    ephemerals,
                    sessions,
                )
            }) else {
                continue;
            };
            let node: Arc<str> = name.as_str().into();
            self.world
                .trace()
                .record(&node, Event::Zk(ZkEvent::FinalTree { zxid, digest }));
            self.world.trace().record(
                &node,
                Event::Zk(ZkEvent::FinalEphemerals {
                    zxid,
                    ephemerals,
                    sessions,
                }),
            );
        }
    }

    /// Adds a client process on its own node (`name`) and runs `body` with a connected-or-
    /// connecting client. Returns the process id recorded in the history.
    pub fn add_client<F, Fut>(&self, name: &str, session_timeout_ms: u64, body: F) -> u64
    where
        F: Fn(ZkClient) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let process = {
            let mut p = self.next_process.lock().expect("process counter");
            *p += 1;
            *p
        };
        let cfg = ClientConfig {
            servers: self.server_names(),
            session_timeout_ms,
            read_only_ok: self.spec.read_only,
            process,
        };
        let recorder = self.recorder.clone();
        let body = Arc::new(body);
        self.world
            .add_node(NodeSpec::new(name), move |ctx: NodeCtx| {
                let (cfg, recorder, body) = (cfg.clone(), recorder.clone(), body.clone());
                async move {
                    let client = ZkClient::start(ctx.endpoint, ctx.inbox, cfg, ctx.seed, recorder);
                    client.record_events(ctx.trace.clone(), ctx.name.clone());
                    body(client).await;
                    // Keep the process (and its session's connection) alive until killed.
                    futures::future::pending::<()>().await;
                }
            });
        process
    }

    /// The history so far: every client op and every recorded event.
    pub fn history(&self) -> History {
        let mut h = History::new();
        h.ops = self.recorder.ops();
        h.events = self
            .world
            .trace()
            .records()
            .into_iter()
            .map(crate::net::event_record)
            .collect();
        h
    }
}

impl PeerStatus {
    /// True while the server answers clients.
    pub fn serving(&self) -> bool {
        self.serving
    }
}
