//! The ZooKeeper-era (0.8) consumer group member on the simulator.
//!
//! As in Kafka 0.8's `ZookeeperConsumerConnector`:
//! - a member registers ephemeral `/consumers/<g>/ids/<cid>` with its subscription and
//!   watches the `ids` children; any change triggers a rebalance;
//! - a rebalance commits and releases everything owned (ephemeral
//!   `/consumers/<g>/owners/<t>/<p>` deleted), computes the range assignment over the sorted
//!   member ids and sorted partitions, and claims its partitions by creating their owner
//!   znodes; NODEEXISTS means the previous owner has not released yet, so it retries;
//! - offsets live in `/consumers/<g>/offsets/<t>/<p>`, written by an unconditional setData.
//!
//! There are no generations in 0.8; kzsim names a rebalance's generation by the `pzxid` of
//! the `ids` znode it read (the zxid of the last membership change), as `kafka.md` §6
//! suggests. Claims are recorded after the owner znode exists and releases before it is
//! deleted, so the recorded ownership intervals are exclusive exactly when the znodes are.
//! An expired session re-registers with a new session (the 0.8 connector does the same).

use super::client::{error_ret, KafkaConn};
use super::net::{broker_node, ensure_path, KafkaWire};
use super::replica::KafkaBugs;
use super::wire::TopicPartition;
use super::znodes::{self, ConsumerRegistration, TopicAssignment};
use crate::history::{Call, Event, KafkaEvent, Outcome, Recorder, Ret};
use crate::zk::client::{ClientState, WatchNotice, ZkClient};
use crate::zk::request::{ZkOp, ZkResponse};
use crate::zk::types::{CreateMode, ErrorCode};
use kzsim_sim::SimTime;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What one group member does.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// Group id.
    pub group: String,
    /// Consumer id (the node name).
    pub consumer: String,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Offsets are committed this often (`auto.commit.interval.ms`).
    pub commit_interval_ms: u64,
    /// Test-only mutations (`KafkaBugs::test_consumer_commits_released`).
    pub bugs: KafkaBugs,
    /// Unix milliseconds of the simulated wall clock at simulated time zero (the
    /// registration's `timestamp`).
    pub wall_clock_start_ms: i64,
}

/// The range assignor: member `i` of `members` (sorted) gets a contiguous run of the sorted
/// `partitions`, the first `partitions % members` members one extra.
pub fn range_assign(partitions: u32, members: usize, index: usize) -> Vec<u32> {
    if members == 0 || index >= members {
        return Vec::new();
    }
    let per = partitions as usize / members;
    let extra = partitions as usize % members;
    let start = index * per + index.min(extra);
    let len = per + usize::from(index < extra);
    (start..start + len).map(|p| p as u32).collect()
}

struct Owned {
    generation: i64,
    /// Next offset to fetch.
    position: i64,
    committed: i64,
}

/// One member process.
pub struct Member {
    spec: MemberSpec,
    zk: ZkClient,
    watches: mpsc::UnboundedReceiver<WatchNotice>,
    conn: KafkaConn,
    recorder: Recorder,
    process: u64,
    trace: kzsim_sim::Trace<Event>,
    node: Arc<str>,
    owned: BTreeMap<TopicPartition, Owned>,
    /// Positions of partitions released in a rebalance, kept only under the test-only
    /// mutation `KafkaBugs::test_consumer_commits_released` (always empty otherwise).
    released: BTreeMap<TopicPartition, i64>,
}

enum Stop {
    /// Membership changed (or a rebalance must restart).
    Rebalance,
    /// The session expired.
    Expired,
}

impl Member {
    /// A member over a started ZooKeeper client and a Kafka connection.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: MemberSpec,
        zk: ZkClient,
        conn: KafkaConn,
        recorder: Recorder,
        process: u64,
        trace: kzsim_sim::Trace<Event>,
        node: Arc<str>,
    ) -> Member {
        let watches = zk.watch_events();
        Member {
            spec,
            zk,
            watches,
            conn,
            recorder,
            process,
            trace,
            node,
            owned: BTreeMap::new(),
            released: BTreeMap::new(),
        }
    }

    /// Runs until the session expires (the caller then starts a new client and calls
    /// [`Member::replace_session`]).
    pub async fn run(&mut self) {
        if !self.register().await {
            return;
        }
        loop {
            match self.rebalance().await {
                Err(Stop::Expired) => return,
                Err(Stop::Rebalance) => continue,
                Ok(()) => {}
            }
            match self.consume().await {
                Stop::Expired => return,
                Stop::Rebalance => {}
            }
        }
    }

    /// After an expiry: drop ownership (its znodes are gone with the session) and use the
    /// new session.
    pub fn replace_session(&mut self, zk: ZkClient) {
        let owned = std::mem::take(&mut self.owned);
        for (tp, o) in owned {
            self.record_event(KafkaEvent::PartitionReleased {
                group: self.spec.group.clone(),
                consumer: self.spec.consumer.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                generation: o.generation,
            });
        }
        self.watches = zk.watch_events();
        self.zk = zk;
    }

    fn record_event(&self, e: KafkaEvent) {
        self.trace.record(&self.node, Event::Kafka(e));
    }

    fn expired(&self) -> bool {
        matches!(self.zk.state(), ClientState::Expired | ClientState::Closed)
    }

    async fn register(&mut self) -> bool {
        let ids = znodes::consumer_ids_path(&self.spec.group);
        let path = znodes::consumer_id_path(&self.spec.group, &self.spec.consumer);
        let subscription: BTreeMap<String, u32> =
            self.spec.topics.iter().map(|t| (t.clone(), 1)).collect();
        loop {
            if self.expired() {
                return false;
            }
            self.zk.wait_connected(Duration::from_secs(10)).await;
            if !ensure_path(&self.zk, &ids).await {
                madsim::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let reg = ConsumerRegistration::static_subscription(
                subscription.clone(),
                super::controller::wall_ms(self.spec.wall_clock_start_ms, SimTime::now()),
            );
            let op = ZkOp::Create {
                path: path.clone(),
                data: Some(reg.to_json().into_bytes()),
                mode: CreateMode::EPHEMERAL,
            };
            match self.zk.submit(op).await {
                Ok(_) => return true,
                Err(ErrorCode::NodeExists) => {
                    // Ours after an ambiguous create, or the previous session's: check.
                    let read = self
                        .zk
                        .submit(ZkOp::GetData {
                            path: path.clone(),
                            watch: false,
                        })
                        .await;
                    if let Ok(ZkResponse::Data { stat, .. }) = read {
                        if Some(stat.ephemeral_owner) == self.zk.session() {
                            return true;
                        }
                    }
                    madsim::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_) => madsim::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// True if a watch fired on the group's member list or on a subscribed topic's
    /// partition assignment (0.8's `ZKRebalancerListener` and
    /// `ZKTopicPartitionChangeListener`): either one calls for a rebalance.
    fn membership_changed(&mut self) -> bool {
        let ids = znodes::consumer_ids_path(&self.spec.group);
        let topics: Vec<String> = self
            .spec
            .topics
            .iter()
            .map(|t| znodes::topic_path(t))
            .collect();
        let mut changed = false;
        while let Ok(w) = self.watches.try_recv() {
            changed |= w.path == ids || topics.contains(&w.path);
        }
        changed
    }

    async fn zk(&self, op: ZkOp) -> Result<ZkResponse, Stop> {
        loop {
            match self.zk.submit(op.clone()).await {
                Err(ErrorCode::SessionExpired) => return Err(Stop::Expired),
                Err(ErrorCode::ConnectionLoss) | Err(ErrorCode::OperationTimeout) => {
                    if self.expired() {
                        return Err(Stop::Expired);
                    }
                    madsim::time::sleep(Duration::from_millis(300)).await;
                }
                Ok(r) => return Ok(r),
                Err(code) => return Ok(ZkResponse::Error(code)),
            }
        }
    }

    async fn rebalance(&mut self) -> Result<(), Stop> {
        let ids = znodes::consumer_ids_path(&self.spec.group);
        let (members, generation) = match self
            .zk(ZkOp::GetChildren {
                path: ids,
                watch: true,
            })
            .await?
        {
            ZkResponse::Children { children, stat } => (children, stat.pzxid),
            _ => return Err(Stop::Rebalance),
        };
        self.release_all().await?;
        let Some(index) = members.iter().position(|m| *m == self.spec.consumer) else {
            // Our registration is gone (expired session): re-register first.
            return Err(Stop::Expired);
        };
        let mut mine = Vec::new();
        for t in self.spec.topics.clone() {
            // Watched, so that a topic created (or given partitions) after this rebalance
            // triggers the next one; a missing topic gets an exists watch for its creation.
            let path = znodes::topic_path(&t);
            let parts = match self
                .zk(ZkOp::GetData {
                    path: path.clone(),
                    watch: true,
                })
                .await?
            {
                ZkResponse::Data { data, .. } => {
                    let text = String::from_utf8_lossy(data.as_deref().unwrap_or_default());
                    TopicAssignment::from_json(&text)
                        .map(|a| a.partitions.len() as u32)
                        .unwrap_or(0)
                }
                _ => {
                    if let ZkResponse::Exists(Some(_)) =
                        self.zk(ZkOp::Exists { path, watch: true }).await?
                    {
                        // Created between the two reads: its watch has fired or will.
                        return Err(Stop::Rebalance);
                    }
                    0
                }
            };
            for p in range_assign(parts, members.len(), index) {
                mine.push(TopicPartition::new(&t, p));
            }
        }
        for tp in mine {
            self.claim(&tp, generation).await?;
        }
        Ok(())
    }

    /// Claims `tp` by creating its owner znode, retrying while the previous owner holds it.
    async fn claim(&mut self, tp: &TopicPartition, generation: i64) -> Result<(), Stop> {
        let g = self.spec.group.clone();
        let owners_dir = format!("/consumers/{g}/owners/{}", tp.topic);
        let owner = znodes::consumer_owner_path(&g, &tp.topic, tp.partition);
        loop {
            if self.membership_changed() {
                return Err(Stop::Rebalance);
            }
            if !ensure_path(&self.zk, &owners_dir).await {
                if self.expired() {
                    return Err(Stop::Expired);
                }
                madsim::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
            let op = ZkOp::Create {
                path: owner.clone(),
                data: Some(self.spec.consumer.clone().into_bytes()),
                mode: CreateMode::EPHEMERAL,
            };
            let mine = match self.zk(op).await? {
                ZkResponse::Created { .. } => true,
                ZkResponse::Error(ErrorCode::NodeExists) => {
                    match self
                        .zk(ZkOp::GetData {
                            path: owner.clone(),
                            watch: false,
                        })
                        .await?
                    {
                        ZkResponse::Data { stat, .. } => {
                            Some(stat.ephemeral_owner) == self.zk.session()
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            if mine {
                break;
            }
            madsim::time::sleep(Duration::from_millis(500)).await;
        }
        let offset_path = znodes::consumer_offset_path(&g, &tp.topic, tp.partition);
        let committed = match self
            .zk(ZkOp::GetData {
                path: offset_path,
                watch: false,
            })
            .await?
        {
            ZkResponse::Data { data, .. } => {
                let text = String::from_utf8_lossy(data.as_deref().unwrap_or_default());
                znodes::consumer_offset_from_text(&text).unwrap_or(0)
            }
            _ => 0,
        };
        self.record_event(KafkaEvent::PartitionClaimed {
            group: g,
            consumer: self.spec.consumer.clone(),
            topic: tp.topic.clone(),
            partition: tp.partition,
            generation,
        });
        self.released.remove(tp);
        self.owned.insert(
            tp.clone(),
            Owned {
                generation,
                position: committed,
                committed,
            },
        );
        Ok(())
    }

    async fn release_all(&mut self) -> Result<(), Stop> {
        self.commit_all().await?;
        let owned = std::mem::take(&mut self.owned);
        for (tp, o) in owned {
            self.record_event(KafkaEvent::PartitionReleased {
                group: self.spec.group.clone(),
                consumer: self.spec.consumer.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                generation: o.generation,
            });
            if self.spec.bugs.test_consumer_commits_released {
                self.released.insert(tp.clone(), o.position);
            }
            let owner = znodes::consumer_owner_path(&self.spec.group, &tp.topic, tp.partition);
            self.zk(ZkOp::Delete {
                path: owner,
                version: -1,
            })
            .await?;
        }
        Ok(())
    }

    async fn commit_all(&mut self) -> Result<(), Stop> {
        let mut todo: Vec<(TopicPartition, i64)> = self
            .owned
            .iter()
            .filter(|(_, o)| o.position != o.committed)
            .map(|(tp, o)| (tp.clone(), o.position))
            .collect();
        todo.extend(self.released.iter().map(|(tp, &p)| (tp.clone(), p)));
        for (tp, offset) in todo {
            let path = znodes::consumer_offset_path(&self.spec.group, &tp.topic, tp.partition);
            let id = self.recorder.invoke(
                self.process,
                self.zk.session(),
                None,
                Call::CommitOffset {
                    group: self.spec.group.clone(),
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset,
                },
            );
            let data = offset.to_string().into_bytes();
            let mut r = self
                .zk
                .submit(ZkOp::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: -1,
                })
                .await;
            if r == Err(ErrorCode::NoNode) {
                let dir = path.rsplit_once('/').map(|(d, _)| d.to_string());
                if let Some(dir) = dir {
                    ensure_path(&self.zk, &dir).await;
                }
                r = self
                    .zk
                    .submit(ZkOp::Create {
                        path,
                        data: Some(data),
                        mode: CreateMode::PERSISTENT,
                    })
                    .await;
            }
            match r {
                Ok(_) => {
                    self.recorder.complete(id, Outcome::Ok, Ret::None, None);
                    if let Some(o) = self.owned.get_mut(&tp) {
                        o.committed = offset;
                    }
                }
                Err(code @ (ErrorCode::ConnectionLoss | ErrorCode::SessionExpired)) => {
                    self.recorder.complete(
                        id,
                        Outcome::Info,
                        crate::zk::request::error_ret(code),
                        None,
                    );
                    if code == ErrorCode::SessionExpired {
                        return Err(Stop::Expired);
                    }
                }
                Err(code) => self.recorder.complete(
                    id,
                    Outcome::Fail,
                    crate::zk::request::error_ret(code),
                    None,
                ),
            }
        }
        Ok(())
    }

    /// Fetches from every owned partition in turn until membership changes.
    async fn consume(&mut self) -> Stop {
        let mut last_commit = SimTime::now();
        loop {
            if self.expired() {
                return Stop::Expired;
            }
            if self.membership_changed() {
                return Stop::Rebalance;
            }
            if self.owned.is_empty() {
                madsim::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let mut fetched_any = false;
            let tps: Vec<TopicPartition> = self.owned.keys().cloned().collect();
            for tp in tps {
                fetched_any |= self.fetch(&tp).await;
            }
            if SimTime::now().since(last_commit)
                >= Duration::from_millis(self.spec.commit_interval_ms)
            {
                last_commit = SimTime::now();
                if let Err(Stop::Expired) = self.commit_all().await {
                    return Stop::Expired;
                }
            }
            if !fetched_any {
                madsim::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// One fetch from `tp`'s leader; true if records came back.
    async fn fetch(&mut self, tp: &TopicPartition) -> bool {
        let Some(position) = self.owned.get(tp).map(|o| o.position) else {
            return false;
        };
        let Some(leader) = self.conn.leader(tp) else {
            self.conn.refresh_metadata().await;
            return false;
        };
        let id = self.recorder.invoke(
            self.process,
            None,
            Some(&broker_node(leader)),
            Call::Fetch {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: position,
            },
        );
        let t = tp.clone();
        let resp = self
            .conn
            .request(
                leader,
                |correlation_id| KafkaWire::ClientFetch {
                    correlation_id,
                    tp: t,
                    offset: position,
                    max: 50,
                },
                Duration::from_secs(5),
                true,
            )
            .await;
        match resp {
            Some(KafkaWire::ClientFetchResponse {
                result: Ok(records),
                ..
            }) => {
                let got = !records.is_empty();
                if let (Some(last), Some(o)) = (records.last(), self.owned.get_mut(tp)) {
                    o.position = last.0 + 1;
                }
                self.recorder
                    .complete(id, Outcome::Ok, Ret::Records { records }, None);
                got
            }
            Some(KafkaWire::ClientFetchResponse { result: Err(e), .. }) => {
                self.recorder
                    .complete(id, Outcome::Fail, error_ret(e), None);
                self.conn.refresh_metadata().await;
                false
            }
            _ => {
                self.recorder.complete(id, Outcome::Fail, Ret::None, None);
                self.conn.refresh_metadata().await;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::range_assign;

    #[test]
    fn range_assignment_table() {
        // (partitions, members) -> each member's share, in member order.
        let cases: &[(u32, usize, &[&[u32]])] = &[
            (4, 2, &[&[0, 1], &[2, 3]]),
            (5, 2, &[&[0, 1, 2], &[3, 4]]),
            (2, 3, &[&[0], &[1], &[]]),
            (3, 1, &[&[0, 1, 2]]),
        ];
        for (parts, members, want) in cases {
            for (i, w) in want.iter().enumerate() {
                assert_eq!(
                    range_assign(*parts, *members, i),
                    w.to_vec(),
                    "{parts}/{members}/{i}"
                );
            }
        }
        assert!(range_assign(3, 0, 0).is_empty());
    }
}
