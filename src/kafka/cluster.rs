//! A Kafka cluster in ZooKeeper mode on top of a running ZooKeeper [`Cluster`]: brokers
//! `broker1..brokerN`, an admin process that creates the topics (as `kafka-topics.sh
//! --zookeeper` does: it writes `/brokers/topics/<t>` and the controller does the rest),
//! producers and consumer-group members, and the queries and end-of-run snapshots a test
//! needs.

use super::broker::{run_broker, BrokerCore, BrokerMetrics, BrokerSlot, BrokerSpec};
use super::client::{run_producer, KafkaConn, ProducerSpec};
use super::config::BrokerConfig;
use super::controller::{assign_replicas, ControllerBugs, ControllerConfig};
use super::group::{Member, MemberSpec};
use super::net::{ensure_path, Demux};
use super::replica::{KafkaBugs, ReplicaConfig};
use super::wire::{Acks, BrokerId, TopicPartition};
use super::znodes::{self, TopicAssignment};
use crate::cluster::Cluster;
use crate::history::{Event, Recorder};
use crate::net::{NetMsg, NodeCtx, World};
use crate::zk::client::{ClientConfig, ClientState, ProcessIds, ZkClient};
use crate::zk::request::ZkOp;
use crate::zk::types::{CreateMode, ErrorCode};
use kzsim_sim::net::Endpoint;
use kzsim_sim::world::NodeState;
use kzsim_sim::NodeSpec;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Process ids of Kafka clients in the history start here (ZooKeeper clients count from 1).
pub const KAFKA_PROCESS_BASE: u64 = 10_000;

/// Process ids of the Kafka side's own ZooKeeper requests (brokers, the topic admin,
/// consumer-group members; see [`ProcessIds`]) start here, apart from the Kafka clients'
/// ids, which the Kafka checkers read per process.
pub const KAFKA_ZK_PROCESS_BASE: u64 = 100_000;

/// The Kafka side's ZooKeeper process ids stay below this; ids from here up are
/// ZooKeeper clients' later sessions (`generation << 32 | id`, see
/// [`ZkClient::process`]).
pub const KAFKA_ZK_PROCESS_END: u64 = 1 << 32;

/// True for a process id of the Kafka side's own ZooKeeper requests.
pub fn is_kafka_zk_process(process: u64) -> bool {
    (KAFKA_ZK_PROCESS_BASE..KAFKA_ZK_PROCESS_END).contains(&process)
}

/// At most this many Kafka clients (producers and consumers) in one cluster, so their
/// process ids stay below [`KAFKA_ZK_PROCESS_BASE`].
pub const KAFKA_CLIENTS_MAX: u64 = KAFKA_ZK_PROCESS_BASE - KAFKA_PROCESS_BASE - 1;

/// The shape and settings of a Kafka cluster.
#[derive(Clone, Debug)]
pub struct KafkaSpec {
    /// Number of brokers (`broker1..brokerN`, ids 1..N).
    pub brokers: usize,
    /// Topics: (name, partitions, replication factor).
    pub topics: Vec<(String, u32, u32)>,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election: bool,
    /// `zookeeper.session.timeout.ms`.
    pub zk_session_timeout_ms: u64,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: u64,
    /// `log.flush.interval.messages`.
    pub log_flush_interval_messages: u64,
    /// Replication bug flags.
    pub bugs: KafkaBugs,
    /// Controller bug flags.
    pub controller_bugs: ControllerBugs,
}

impl Default for KafkaSpec {
    /// Three brokers, topic `t` with 2 partitions at RF 3, min ISR 2, unclean off, 6 s
    /// sessions, 10 s lag time.
    fn default() -> Self {
        KafkaSpec {
            brokers: 3,
            topics: vec![("t".into(), 2, 3)],
            min_insync_replicas: 2,
            unclean_leader_election: false,
            zk_session_timeout_ms: 6_000,
            replica_lag_time_max_ms: 10_000,
            log_flush_interval_messages: i64::MAX as u64,
            bugs: KafkaBugs::default(),
            controller_bugs: ControllerBugs::default(),
        }
    }
}

/// A running Kafka cluster. Cloning gives another handle.
#[derive(Clone)]
pub struct KafkaCluster {
    world: World,
    zk: Cluster,
    spec: KafkaSpec,
    slots: Arc<BTreeMap<String, BrokerSlot>>,
    next_process: Arc<Mutex<u64>>,
    /// Process ids of the Kafka side's own ZooKeeper requests.
    zk_processes: ProcessIds,
}

impl KafkaCluster {
    /// Starts the brokers and the topic-creating admin process.
    pub fn start(world: &World, zk: &Cluster, spec: KafkaSpec) -> KafkaCluster {
        let zk_servers = zk.server_names();
        let zk_processes = ProcessIds::new(KAFKA_ZK_PROCESS_BASE..KAFKA_ZK_PROCESS_END);
        let mut slots = BTreeMap::new();
        for id in 1..=spec.brokers as BrokerId {
            let mut config = BrokerConfig::with_defaults(id, &zk_servers.join(","));
            config.zookeeper_session_timeout_ms = spec.zk_session_timeout_ms;
            config.min_insync_replicas = spec.min_insync_replicas;
            config.unclean_leader_election_enable = spec.unclean_leader_election;
            config.replica_lag_time_max_ms = spec.replica_lag_time_max_ms;
            config.log_flush_interval_messages = spec.log_flush_interval_messages;
            let bspec = Arc::new(BrokerSpec {
                replica: ReplicaConfig::from_broker(&config),
                controller: ControllerConfig {
                    unclean_leader_election_enable: spec.unclean_leader_election,
                    wall_clock_start_ms: zk.spec().wall_clock_start_ms,
                },
                config,
                bugs: spec.bugs,
                controller_bugs: spec.controller_bugs,
                zk_servers: zk_servers.clone(),
                recorder: zk.recorder().clone(),
                zk_processes: zk_processes.clone(),
            });
            let slot: BrokerSlot = Arc::new(Mutex::new(None));
            let s = slot.clone();
            let name = super::net::broker_node(id);
            world.add_node(NodeSpec::new(name.clone()), move |ctx: NodeCtx| {
                run_broker(ctx, bspec.clone(), s.clone())
            });
            slots.insert(name, slot);
        }
        let mut rng = world.rng_for("kafka-topic-assignment");
        let brokers: Vec<BrokerId> = (1..=spec.brokers as BrokerId).collect();
        let mut topics = Vec::new();
        for (name, parts, rf) in &spec.topics {
            let start = rng.random_range(0..brokers.len());
            let shift = rng.random_range(0..brokers.len());
            let assignment = assign_replicas(&brokers, *parts, *rf, start, shift)
                .unwrap_or_else(|e| panic!("topic {name}: {e}"));
            topics.push((name.clone(), TopicAssignment::new(assignment).to_json()));
        }
        let cfg = ClientConfig {
            servers: zk_servers.clone(),
            session_timeout_ms: spec.zk_session_timeout_ms,
            read_only_ok: false,
            process: 0,
        };
        let admin_servers = zk_servers.clone();
        let admin_zk = KafkaZk {
            recorder: zk.recorder().clone(),
            processes: zk_processes.clone(),
        };
        world.add_node(NodeSpec::new("kafka-admin"), move |ctx: NodeCtx| {
            let (cfg, topics, zk_servers) = (cfg.clone(), topics.clone(), admin_servers.clone());
            let admin_zk = admin_zk.clone();
            async move {
                // Only ZooKeeper traffic reaches the admin; the demux gives each new session
                // a fresh inbox.
                let (demux, zk_inbox, _) = Demux::start(ctx.inbox, &zk_servers);
                let node = (&ctx.endpoint, &ctx.trace, &ctx.name);
                let mut sessions = 0u64;
                let mut zk = admin_zk.start(node, zk_inbox, cfg.clone(), ctx.seed);
                for (name, json) in topics {
                    // An expired session is an operator running kafka-topics.sh again.
                    while !create_topic(&zk, &name, &json).await {
                        sessions += 1;
                        zk = admin_zk.start(
                            node,
                            demux.new_zk_inbox(),
                            cfg.clone(),
                            ctx.seed.wrapping_add(sessions),
                        );
                    }
                }
                futures::future::pending::<()>().await;
            }
        });
        KafkaCluster {
            world: world.clone(),
            zk: zk.clone(),
            spec,
            slots: Arc::new(slots),
            next_process: Arc::new(Mutex::new(KAFKA_PROCESS_BASE)),
            zk_processes,
        }
    }

    /// The world the cluster runs in.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// How many produce operations have been acknowledged so far (all producers).
    pub fn acked_produces(&self) -> usize {
        self.zk
            .recorder()
            .ops()
            .iter()
            .filter(|o| {
                o.outcome == crate::history::Outcome::Ok
                    && matches!(o.call, crate::history::Call::Produce { .. })
            })
            .count()
    }

    /// The cluster's settings.
    pub fn spec(&self) -> &KafkaSpec {
        &self.spec
    }

    /// Broker node names, sorted.
    pub fn broker_names(&self) -> Vec<String> {
        self.slots.keys().cloned().collect()
    }

    fn running(&self, name: &str) -> bool {
        self.world.has_node(name) && self.world.state(name) == NodeState::Up
    }

    fn with_core<R>(&self, name: &str, f: impl FnOnce(&BrokerCore) -> R) -> Option<R> {
        let slot = self.slots.get(name)?;
        let g = slot.lock().expect("broker slot");
        g.as_ref().map(f)
    }

    /// The node name of the active controller: among running (not crashed, not paused)
    /// brokers that believe they are controller, the one with the highest epoch.
    pub fn controller(&self) -> Option<String> {
        self.controller_with_epoch().map(|(n, _)| n)
    }

    /// The active controller and its epoch (see [`KafkaCluster::controller`]).
    pub fn controller_with_epoch(&self) -> Option<(String, i32)> {
        self.broker_names()
            .into_iter()
            .filter(|n| self.running(n))
            .filter_map(|n| {
                let e = self.with_core(&n, |c| c.controller.epoch()).flatten()?;
                Some((n, e))
            })
            .max_by_key(|(_, e)| *e)
    }

    /// The node name of the partition's leader: among running brokers that lead it, the
    /// one with the highest leader epoch.
    pub fn partition_leader(&self, topic: &str, partition: u32) -> Option<String> {
        let tp = TopicPartition::new(topic, partition);
        self.broker_names()
            .into_iter()
            .filter(|n| self.running(n))
            .filter_map(|n| {
                let e = self
                    .with_core(&n, |c| {
                        c.replicas
                            .get(&tp)
                            .filter(|r| r.is_leader())
                            .and_then(|r| r.leader_epoch())
                    })
                    .flatten()?;
                Some((n, e))
            })
            .max_by_key(|(_, e)| *e)
            .map(|(n, _)| n)
    }

    /// The ISR the partition's leader (see [`KafkaCluster::partition_leader`]) believes in.
    pub fn partition_isr(&self, topic: &str, partition: u32) -> Vec<BrokerId> {
        let tp = TopicPartition::new(topic, partition);
        self.partition_leader(topic, partition)
            .and_then(|n| self.with_core(&n, |c| c.replicas.get(&tp).map(|r| r.isr())))
            .flatten()
            .unwrap_or_default()
    }

    /// The ISR of a partition in a broker's metadata cache (what UpdateMetadata told it).
    pub fn metadata_isr(&self, broker: &str, topic: &str, partition: u32) -> Option<Vec<BrokerId>> {
        let tp = TopicPartition::new(topic, partition);
        self.with_core(broker, |c| c.metadata.get(&tp).map(|m| m.isr.clone()))
            .flatten()
    }

    /// The children of `path` on the ZooKeeper leader's tree (`None` without a leader or
    /// the znode), sorted.
    pub fn zk_children(&self, path: &str) -> Option<Vec<String>> {
        let leader = self.zk.zk_leader()?;
        self.zk
            .with_peer(&leader, |p| p.db().tree.children(path))
            .flatten()
    }

    /// A broker's metrics (`None` for an unknown name or a broker that never started).
    pub fn metrics(&self, broker: &str) -> Option<BrokerMetrics> {
        self.with_core(broker, |c| c.metrics())
    }

    /// Waits until a controller is active and every partition of every topic has a leader
    /// whose ISR holds the whole replica set. False if `within` passes first.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let deadline = madsim::time::Instant::now() + within;
        loop {
            let ready = self.controller().is_some()
                && self.spec.topics.iter().all(|(t, parts, rf)| {
                    (0..*parts).all(|p| self.partition_isr(t, p).len() == *rf as usize)
                });
            if ready {
                return true;
            }
            if madsim::time::Instant::now() >= deadline {
                return false;
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn next_process(&self) -> u64 {
        let mut p = self.next_process.lock().expect("process counter");
        assert!(
            *p < KAFKA_PROCESS_BASE + KAFKA_CLIENTS_MAX,
            "more than {KAFKA_CLIENTS_MAX} Kafka clients"
        );
        *p += 1;
        *p
    }

    fn broker_ids(&self) -> Vec<BrokerId> {
        (1..=self.spec.brokers as BrokerId).collect()
    }

    /// Starts a producer node `name` sending `rate_per_sec` records per second to `topic`
    /// with `acks`, 3 retries and a 5 s request timeout. Returns its history process id.
    pub fn add_producer(&self, name: &str, topic: &str, acks: Acks, rate_per_sec: u32) -> u64 {
        let process = self.next_process();
        let spec = ProducerSpec {
            topic: topic.to_string(),
            acks,
            rate_per_sec,
            retries: 3,
            request_timeout_ms: 5_000,
        };
        let (recorder, brokers) = (self.zk.recorder().clone(), self.broker_ids());
        self.world
            .add_node(NodeSpec::new(name), move |ctx: NodeCtx| {
                let conn = KafkaConn::new(ctx.endpoint, ctx.inbox, brokers.clone());
                run_producer(
                    conn,
                    ctx.name.to_string(),
                    spec.clone(),
                    recorder.clone(),
                    process,
                )
            });
        process
    }

    /// Starts `members` consumer nodes `<group>-c1..` of a ZooKeeper-coordinated group
    /// subscribed to `topics`. Returns their node names.
    pub fn add_consumer_group(&self, group: &str, topics: &[&str], members: usize) -> Vec<String> {
        (1..=members)
            .map(|i| {
                let name = format!("{group}-c{i}");
                self.add_consumer(group, topics, &name);
                name
            })
            .collect()
    }

    /// Starts one more consumer node `name` in `group`. Returns its history process id.
    pub fn add_consumer(&self, group: &str, topics: &[&str], name: &str) -> u64 {
        let process = self.next_process();
        let spec = MemberSpec {
            group: group.to_string(),
            consumer: name.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            commit_interval_ms: 1_000,
            bugs: self.spec.bugs,
            wall_clock_start_ms: self.zk.spec().wall_clock_start_ms,
        };
        let zk_servers = self.zk.server_names();
        let cfg = ClientConfig {
            servers: zk_servers.clone(),
            session_timeout_ms: self.spec.zk_session_timeout_ms,
            read_only_ok: false,
            process,
        };
        let (recorder, brokers) = (self.zk.recorder().clone(), self.broker_ids());
        let member_zk = KafkaZk {
            recorder: recorder.clone(),
            processes: self.zk_processes.clone(),
        };
        self.world
            .add_node(NodeSpec::new(name), move |ctx: NodeCtx| {
                let (spec, cfg, recorder, brokers) =
                    (spec.clone(), cfg.clone(), recorder.clone(), brokers.clone());
                let zk_servers = zk_servers.clone();
                let member_zk = member_zk.clone();
                async move {
                    let (demux, zk_inbox, kafka_inbox) = Demux::start(ctx.inbox, &zk_servers);
                    let node = (&ctx.endpoint, &ctx.trace, &ctx.name);
                    let zk = member_zk.start(node, zk_inbox, cfg.clone(), ctx.seed);
                    let conn = KafkaConn::new(ctx.endpoint.clone(), kafka_inbox, brokers);
                    let mut member = Member::new(
                        spec,
                        zk,
                        conn,
                        recorder.clone(),
                        process,
                        ctx.trace.clone(),
                        ctx.name.clone(),
                    );
                    for session in 1u64.. {
                        member.run().await;
                        let zk = member_zk.start(
                            node,
                            demux.new_zk_inbox(),
                            cfg.clone(),
                            ctx.seed.wrapping_add(session),
                        );
                        member.replace_session(zk);
                    }
                }
            });
        process
    }

    /// Records the end-of-run `ReplicaLog` snapshot of every replica on every running or
    /// paused broker (crashed brokers have no live replicas). Call it once, at the end of a
    /// run, before collecting the history.
    pub fn finish(&self) {
        for name in self.broker_names() {
            if !self.world.has_node(&name) || self.world.state(&name) == NodeState::Down {
                continue;
            }
            let events = self
                .with_core(&name, |c| {
                    c.replicas
                        .values()
                        .map(|r| r.log_event())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let node: Arc<str> = Arc::from(name.as_str());
            for e in events {
                self.world.trace().record(&node, Event::Kafka(e));
            }
        }
    }
}

/// How a Kafka-side process (the topic admin, a consumer-group member) starts a
/// ZooKeeper client whose traffic is history: its requests go into the run's history under
/// process ids from the cluster's [`ProcessIds`], and what only the client sees (watches,
/// session states, pings) into the trace under the node's name.
#[derive(Clone)]
struct KafkaZk {
    recorder: Recorder,
    processes: ProcessIds,
}

impl KafkaZk {
    fn start(
        &self,
        node: (&Endpoint<NetMsg>, &kzsim_sim::Trace<Event>, &Arc<str>),
        inbox: kzsim_sim::net::Inbox<NetMsg>,
        cfg: ClientConfig,
        seed: u64,
    ) -> ZkClient {
        let (endpoint, trace, name) = node;
        let zk = ZkClient::start(endpoint.clone(), inbox, cfg, seed, self.recorder.clone());
        zk.record_events(trace.clone(), name.clone());
        zk.record_submitted(self.processes.clone());
        zk
    }
}

/// Creates `/brokers/topics/<name>` unless it exists, retrying while the session lives.
/// False if the session expired first (the caller opens a new one).
async fn create_topic(zk: &ZkClient, name: &str, json: &str) -> bool {
    loop {
        if matches!(zk.state(), ClientState::Expired | ClientState::Closed) {
            return false;
        }
        zk.wait_connected(Duration::from_secs(10)).await;
        if ensure_path(zk, znodes::BROKER_TOPICS_PATH).await {
            let op = ZkOp::Create {
                path: znodes::topic_path(name),
                data: Some(json.as_bytes().to_vec()),
                mode: CreateMode::PERSISTENT,
            };
            match zk.submit(op).await {
                Ok(_) | Err(ErrorCode::NodeExists) => return true,
                Err(_) => {}
            }
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
}
