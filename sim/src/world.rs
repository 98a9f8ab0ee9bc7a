//! One simulated cluster per seed.
//!
//! [`run_seed`] creates a madsim runtime on a fresh OS thread (madsim seeds thread-locals
//! only on a thread's first runtime), runs the supervisor future with a [`World`] handle,
//! kills every node before returning (live tasks would otherwise leak with the runtime),
//! and hands back the trace. Inside, the supervisor adds nodes and injects faults.

use crate::clock::NodeClock;
use crate::disk::{DiskConfig, SimDisk};
use crate::net::{Endpoint, Inbox, NetConfig, NetStats, Network};
use crate::time::SimTime;
use crate::trace::{fnv1a, SimEvent, Trace, TraceEvent, TraceRecord};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Settings of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The run is stopped (as [`RunError::TimeLimit`]) if simulated time passes this.
    pub time_limit: Duration,
    /// Initial network behaviour.
    pub net: NetConfig,
    /// Disk behaviour for every node.
    pub disk: DiskConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            time_limit: Duration::from_secs(3600),
            net: NetConfig::default(),
            disk: DiskConfig::default(),
        }
    }
}

/// A node to add to the world.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Unique name; also its network address.
    pub name: String,
    /// Its clock's offset and drift.
    pub clock: NodeClock,
}

impl NodeSpec {
    /// A node with a perfect clock.
    pub fn new(name: impl Into<String>) -> Self {
        NodeSpec {
            name: name.into(),
            clock: NodeClock::EXACT,
        }
    }
}

/// A node's clock, shared with the world so faults can change it while the node runs.
#[derive(Clone, Debug, Default)]
pub struct ClockHandle(Arc<Mutex<NodeClock>>);

impl ClockHandle {
    /// The clock's current setting.
    pub fn get(&self) -> NodeClock {
        *self.0.lock().expect("clock lock poisoned")
    }
    /// Local time now, in nanoseconds.
    pub fn local_now(&self) -> u64 {
        self.get().local_now()
    }
    /// Simulated duration until the local clock reads `local_ns`.
    pub fn sim_duration_until(&self, local_ns: u64) -> Duration {
        self.get().sim_duration_until(local_ns)
    }
}

/// What a node's process receives when it starts: everything it may touch.
pub struct NodeCtx<E, M> {
    /// The node's name.
    pub name: Arc<str>,
    /// 1 for the first start, +1 per restart.
    pub incarnation: u64,
    /// Opens connections and sends.
    pub endpoint: Endpoint<M>,
    /// Everything the network delivers to this incarnation.
    pub inbox: Inbox<M>,
    /// The node's disk, as the last crash left it.
    pub disk: SimDisk,
    /// The node's clock.
    pub clock: ClockHandle,
    /// The run's trace.
    pub trace: Trace<E>,
    /// A seed for this incarnation's RNG, derived from the run seed, name and incarnation.
    pub seed: u64,
}

type InitFn<E, M> = Arc<dyn Fn(NodeCtx<E, M>) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

/// Whether a node's process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Running.
    Up,
    /// Frozen by a pause.
    Paused,
    /// Killed, not restarted yet.
    Down,
}

struct NodeEntry {
    id: madsim::task::NodeId,
    disk: SimDisk,
    clock: ClockHandle,
    state: NodeState,
}

struct WorldInner<E, M> {
    handle: madsim::runtime::Handle,
    net: Network<M>,
    trace: Trace<E>,
    seed: u64,
    me: Arc<str>,
    disk_config: DiskConfig,
    nodes: Mutex<BTreeMap<Arc<str>, NodeEntry>>,
    rng: Mutex<ChaCha8Rng>,
}

/// The supervisor's handle on the simulated world. Cloning gives another handle.
pub struct World<E, M> {
    inner: Arc<WorldInner<E, M>>,
}

impl<E, M> Clone for World<E, M> {
    fn clone(&self) -> Self {
        World {
            inner: self.inner.clone(),
        }
    }
}

/// How a crash treats the disk. The default is a power loss: unsynced writes are lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashOptions {
    /// Only the process dies (`kill -9`): the OS keeps its page cache and writes it back, so
    /// nothing written is lost. `torn` and `lose_disk` are ignored.
    #[serde(default)]
    pub page_cache_kept: bool,
    /// Leave a partly written last record in one file.
    pub torn: bool,
    /// The disk is lost entirely (a replaced machine).
    pub lose_disk: bool,
}

/// Why a run did not return normally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RunError {
    /// Something panicked: a bug in kzsim or an assertion in protocol code.
    #[error("panicked at {at}: {message}")]
    Panicked { message: String, at: SimTime },
    /// Simulated time passed the configured limit.
    #[error("simulated time limit exceeded at {at}")]
    TimeLimit { at: SimTime },
}

/// What a run leaves behind.
pub struct RunOutput<E, T> {
    /// The seed that produced it.
    pub seed: u64,
    /// The supervisor's value, or why there is none.
    pub result: Result<T, RunError>,
    /// Everything recorded, in order.
    pub trace: Vec<TraceRecord<E>>,
    /// The trace's stable hash.
    pub trace_hash: u64,
    /// Simulated time at the last record.
    pub sim_time: SimTime,
}

fn derive_seed(seed: u64, name: &str, incarnation: u64) -> u64 {
    let h = fnv1a(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes());
    let h = fnv1a(h, name.as_bytes());
    fnv1a(h, &incarnation.to_le_bytes())
}

impl<E: TraceEvent, M: Send + 'static> World<E, M> {
    fn new(seed: u64, config: &RunConfig, trace: Trace<E>) -> Self {
        let handle = madsim::runtime::Handle::current();
        let spawner = handle.create_node().name("network").build();
        let net = Network::new(config.net.clone(), seed, spawner);
        World {
            inner: Arc::new(WorldInner {
                handle,
                net,
                trace,
                seed,
                me: Arc::from("world"),
                disk_config: config.disk.clone(),
                nodes: Mutex::new(BTreeMap::new()),
                rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            }),
        }
    }

    fn nodes(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, NodeEntry>> {
        self.inner.nodes.lock().expect("world lock poisoned")
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The run's trace.
    pub fn trace(&self) -> &Trace<E> {
        &self.inner.trace
    }

    /// The network (for statistics and reachability queries).
    pub fn net(&self) -> &Network<M> {
        &self.inner.net
    }

    /// A fresh RNG for the harness, derived from the seed and `purpose`.
    pub fn rng_for(&self, purpose: &str) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(derive_seed(self.inner.seed, purpose, 0))
    }

    /// Records an event as the harness ("world").
    pub fn record(&self, event: impl Into<E>) {
        self.inner.trace.record(&self.inner.me, event);
    }

    /// Adds a node and starts it. `init` runs at every start with that incarnation's
    /// [`NodeCtx`]; when its future returns, the process has exited.
    ///
    /// Panics if the name is taken (a harness bug).
    pub fn add_node<F, Fut>(&self, spec: NodeSpec, init: F)
    where
        F: Fn(NodeCtx<E, M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let name: Arc<str> = Arc::from(spec.name.as_str());
        assert!(!self.nodes().contains_key(&name), "node {name} added twice");
        let disk = SimDisk::with_seed(
            self.inner.disk_config.clone(),
            derive_seed(self.inner.seed, &format!("disk:{}", spec.name), 0),
        );
        let clock = ClockHandle(Arc::new(Mutex::new(spec.clock)));
        let init: InitFn<E, M> = Arc::new(move |ctx| Box::pin(init(ctx)));
        let incarnations = Arc::new(AtomicU64::new(0));
        let (net, trace, seed) = (
            self.inner.net.clone(),
            self.inner.trace.clone(),
            self.inner.seed,
        );
        let (n, d, c) = (name.clone(), disk.clone(), clock.clone());
        let node = self
            .inner
            .handle
            .create_node()
            .name(spec.name.clone())
            .init(move || {
                let incarnation = incarnations.fetch_add(1, Ordering::Relaxed) + 1;
                let (endpoint, inbox) = net.node_up(&n, incarnation);
                trace.record(&n, SimEvent::NodeStarted { incarnation });
                let ctx = NodeCtx {
                    name: n.clone(),
                    incarnation,
                    endpoint,
                    inbox,
                    disk: d.clone(),
                    clock: c.clone(),
                    trace: trace.clone(),
                    seed: derive_seed(seed, &n, incarnation),
                };
                init(ctx)
            })
            .build();
        self.nodes().insert(
            name,
            NodeEntry {
                id: node.id(),
                disk,
                clock,
                state: NodeState::Up,
            },
        );
    }

    fn with_node<R>(&self, name: &str, f: impl FnOnce(&mut NodeEntry) -> R) -> R {
        let mut nodes = self.nodes();
        let entry = nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("no node named {name}"));
        f(entry)
    }

    /// Names of all nodes, sorted.
    pub fn node_names(&self) -> Vec<Arc<str>> {
        self.nodes().keys().cloned().collect()
    }

    /// True if a node of that name exists.
    pub fn has_node(&self, name: &str) -> bool {
        self.nodes().contains_key(name)
    }

    /// The node's state.
    pub fn state(&self, name: &str) -> NodeState {
        self.with_node(name, |e| e.state)
    }

    /// The node's disk (shared with the node).
    pub fn disk(&self, name: &str) -> SimDisk {
        self.with_node(name, |e| e.disk.clone())
    }

    /// Kills the node's process; its disk loses what was not synced. A no-op on a node
    /// that is already down.
    pub fn crash(&self, name: &str, opts: CrashOptions) {
        let (id, disk) = self.with_node(name, |e| {
            let was = e.state;
            e.state = NodeState::Down;
            (
                if was == NodeState::Down {
                    None
                } else {
                    Some(e.id)
                },
                e.disk.clone(),
            )
        });
        let Some(id) = id else { return };
        self.inner.handle.kill(id);
        self.inner.net.node_down(name);
        let page_cache_kept = opts.page_cache_kept;
        if page_cache_kept {
            disk.write_back();
        } else if opts.lose_disk {
            disk.wipe();
        } else {
            let mut rng = self.inner.rng.lock().expect("rng lock");
            disk.crash(opts.torn, &mut *rng);
        }
        self.inner.trace.record(
            &Arc::from(name),
            SimEvent::NodeCrashed {
                torn: opts.torn && !page_cache_kept,
                disk_lost: opts.lose_disk && !page_cache_kept,
                page_cache_kept,
            },
        );
    }

    /// Starts the node again from its disk. A running or paused node is crashed first.
    pub fn restart(&self, name: &str) {
        if self.state(name) != NodeState::Down {
            self.crash(name, CrashOptions::default());
        }
        let id = self.with_node(name, |e| {
            e.state = NodeState::Up;
            e.id
        });
        self.inner.handle.restart(id);
    }

    /// Freezes the node's process: its tasks stop; the network keeps queueing its input.
    pub fn pause(&self, name: &str) {
        let id = self.with_node(name, |e| {
            (e.state == NodeState::Up).then(|| {
                e.state = NodeState::Paused;
                e.id
            })
        });
        if let Some(id) = id {
            self.inner.handle.pause(id);
            self.inner
                .trace
                .record(&Arc::from(name), SimEvent::NodePaused);
        }
    }

    /// Unfreezes a paused node.
    pub fn resume(&self, name: &str) {
        let id = self.with_node(name, |e| {
            (e.state == NodeState::Paused).then(|| {
                e.state = NodeState::Up;
                e.id
            })
        });
        if let Some(id) = id {
            self.inner.handle.resume(id);
            self.inner
                .trace
                .record(&Arc::from(name), SimEvent::NodeResumed);
        }
    }

    /// Splits the network into groups (nodes in no group are alone).
    pub fn partition(&self, groups: &[Vec<String>]) {
        let ev = self.inner.net.partition(groups);
        self.record(ev);
    }

    /// Drops traffic from `from` to `to`.
    pub fn cut(&self, from: &str, to: &str) {
        let ev = self.inner.net.cut(from, to);
        self.record(ev);
    }

    /// Removes every partition and cut.
    pub fn heal(&self) {
        let ev = self.inner.net.heal();
        self.record(ev);
    }

    /// Changes loss and latency for messages sent from now on.
    pub fn set_net(&self, config: NetConfig) {
        let ev = self.inner.net.set_config(config);
        self.record(ev);
    }

    /// Changes a node's clock.
    pub fn set_clock(&self, name: &str, clock: NodeClock) {
        self.with_node(name, |e| *e.clock.0.lock().expect("clock lock") = clock);
        self.inner.trace.record(
            &Arc::from(name),
            SimEvent::ClockChanged {
                offset_ns: clock.offset_ns,
                drift_ppm: clock.drift_ppm,
            },
        );
    }

    /// Changes how long each fsync of the node's disk takes from now on (microseconds, a
    /// uniform draw from the half-open range; `a..a` is always `a`): a slow disk. `None`
    /// restores the run's configured latency ([`RunConfig::disk`]). fsyncs already waiting
    /// keep the latency they drew. Recorded as [`SimEvent::DiskChanged`] on the node.
    pub fn set_disk_latency(&self, name: &str, latency_us: Option<Range<u64>>) {
        let disk = self.with_node(name, |e| e.disk.clone());
        let restored = latency_us.is_none();
        disk.set_fsync_latency(latency_us);
        let now = disk.fsync_latency();
        self.inner.trace.record(
            &Arc::from(name),
            SimEvent::DiskChanged {
                fsync_min_us: now.start,
                fsync_max_us: now.end.max(now.start),
                restored,
            },
        );
    }

    /// The latency a slow-disk fault gave the node's disk, if one holds.
    pub fn disk_latency_override(&self, name: &str) -> Option<Range<u64>> {
        self.with_node(name, |e| e.disk.fsync_latency_override())
    }

    /// Network counters.
    pub fn net_stats(&self) -> NetStats {
        self.inner.net.stats()
    }

    /// Sleeps in simulated time.
    pub async fn sleep(&self, d: Duration) {
        madsim::time::sleep(d).await;
    }

    /// Sleeps until the given simulated time.
    pub async fn sleep_until(&self, t: SimTime) {
        crate::time::sleep_until(t).await;
    }

    /// Kills every node (so no task outlives the runtime) and lets the kills settle.
    async fn shutdown(&self) {
        let ids: Vec<_> = self.nodes().values().map(|e| e.id).collect();
        for id in ids {
            self.inner.handle.kill(id);
        }
        // The network's delivery tasks live on their own node.
        self.inner.handle.kill("network");
        madsim::time::sleep(Duration::from_millis(1)).await;
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs one seed: a fresh OS thread, one madsim runtime, the supervisor `f`, then every node
/// killed. Deterministic: the same seed, config and code give the same trace and hash.
pub fn run_seed<E, M, T, F, Fut>(seed: u64, config: RunConfig, f: F) -> RunOutput<E, T>
where
    E: TraceEvent,
    M: Send + 'static,
    T: Send + 'static,
    F: FnOnce(World<E, M>) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let trace = Trace::<E>::new();
    let end = Arc::new(AtomicU64::new(0));
    let (t2, end2) = (trace.clone(), end.clone());
    let joined = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || {
            let mut rt =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            rt.set_time_limit(config.time_limit);
            rt.block_on(async move {
                let world = World::<E, M>::new(seed, &config, t2);
                let out = f(world.clone()).await;
                end2.store(SimTime::now().0, Ordering::Relaxed);
                world.shutdown().await;
                out
            })
        })
        .expect("spawn a thread for the seed")
        .join();
    let records = trace.take_records();
    let last = records.last().map(|r| r.at).unwrap_or_default();
    let sim_time = SimTime(end.load(Ordering::Relaxed)).max(last);
    let result = joined.map_err(|p| {
        let message = panic_message(&*p);
        if message.contains("time limit") {
            RunError::TimeLimit { at: sim_time }
        } else {
            RunError::Panicked { message, at: last }
        }
    });
    RunOutput {
        seed,
        result,
        trace: records,
        trace_hash: trace.hash(),
        sim_time,
    }
}
