//! Kafka clients on the simulator: the request/response plumbing shared by producers and
//! consumers ([`KafkaConn`]), and the producer process ([`run_producer`]).
//!
//! The producer behaves like the Java producer where a user would notice: it learns
//! leaders from a Metadata request to any broker, sends each record to the partition's
//! leader with `acks` 0, 1 or all, and on NOT_LEADER_FOR_PARTITION, NOT_ENOUGH_REPLICAS, a
//! timeout or a lost connection refreshes metadata and retries (up to `retries` times).
//! Every attempt is one operation in the history: `ok` with the offset on an
//! acknowledgement, `fail` on a definite error, `info` when the outcome is unknown
//! (timeout, lost connection, NOT_ENOUGH_REPLICAS_AFTER_APPEND). A process has one request
//! open at a time (`max.in.flight.requests.per.connection` = 1).

use super::net::{broker_node, kafka_error_code, KafkaWire};
use super::wire::{Acks, BrokerId, KafkaError, PartitionMetadata, Produce, TopicPartition};
use crate::history::{Call, Outcome, Recorder, Ret};
use crate::net::NetMsg;
use futures::FutureExt;
use kzsim_sim::net::{Endpoint, Inbox, NetEvent};
use kzsim_sim::{ConnId, SimTime};
use std::collections::BTreeMap;
use std::time::Duration;

/// A client's connections to brokers and its metadata cache.
pub struct KafkaConn {
    endpoint: Endpoint<NetMsg>,
    inbox: Inbox<NetMsg>,
    conns: BTreeMap<BrokerId, ConnId>,
    next_corr: u64,
    brokers: Vec<BrokerId>,
    next_bootstrap: usize,
    /// Partition metadata as of the last refresh.
    pub metadata: BTreeMap<TopicPartition, PartitionMetadata>,
}

fn correlation(w: &KafkaWire) -> Option<u64> {
    match w {
        KafkaWire::ProduceResponse(r) => Some(r.correlation_id),
        KafkaWire::ClientFetchResponse { correlation_id, .. }
        | KafkaWire::MetadataResponse { correlation_id, .. } => Some(*correlation_id),
        _ => None,
    }
}

impl KafkaConn {
    /// A client of brokers `brokers` (ids) using this node's Kafka inbox.
    pub fn new(endpoint: Endpoint<NetMsg>, inbox: Inbox<NetMsg>, brokers: Vec<BrokerId>) -> Self {
        KafkaConn {
            endpoint,
            inbox,
            conns: BTreeMap::new(),
            next_corr: 1,
            brokers,
            next_bootstrap: 0,
            metadata: BTreeMap::new(),
        }
    }

    /// Sends a request built from a fresh correlation id to broker `to` and waits for the
    /// answer with that id. `None` if the connection closed or `timeout` passed (the
    /// connection is then closed, as the Java client does). With `expect_reply` false it
    /// returns `None` right after sending (acks=0).
    pub async fn request(
        &mut self,
        to: BrokerId,
        make: impl FnOnce(u64) -> KafkaWire,
        timeout: Duration,
        expect_reply: bool,
    ) -> Option<KafkaWire> {
        let corr = self.next_corr;
        self.next_corr += 1;
        let conn = *self
            .conns
            .entry(to)
            .or_insert_with(|| self.endpoint.connect(&broker_node(to)));
        if self.endpoint.send(conn, NetMsg::Kafka(make(corr))).is_err() {
            self.conns.remove(&to);
            return None;
        }
        if !expect_reply {
            return None;
        }
        let deadline = SimTime::now().plus(timeout);
        let mut alarm = kzsim_sim::time::Alarm::new();
        loop {
            let sleep = alarm.wait_until(deadline);
            futures::select_biased! {
                ev = self.inbox.recv().fuse() => match ev {
                    None => return None,
                    Some(NetEvent::Message { conn: c, packet, .. }) if c == conn => {
                        if let NetMsg::Kafka(w) = packet.msg {
                            if correlation(&w) == Some(corr) {
                                return Some(w);
                            }
                        }
                    }
                    Some(NetEvent::Closed { conn: c, .. }) => {
                        self.conns.retain(|_, x| *x != c);
                        if c == conn {
                            return None;
                        }
                    }
                    Some(_) => {}
                },
                _ = sleep.fuse() => {
                    self.endpoint.close(conn);
                    self.conns.remove(&to);
                    return None;
                }
            }
        }
    }

    /// Asks brokers in turn for metadata until one answers with a non-empty cache.
    /// Returns true if the cache was refreshed.
    pub async fn refresh_metadata(&mut self) -> bool {
        for _ in 0..self.brokers.len() {
            let b = self.brokers[self.next_bootstrap % self.brokers.len()];
            self.next_bootstrap += 1;
            let resp = self
                .request(
                    b,
                    |correlation_id| KafkaWire::Metadata { correlation_id },
                    Duration::from_secs(2),
                    true,
                )
                .await;
            if let Some(KafkaWire::MetadataResponse { partitions, .. }) = resp {
                if !partitions.is_empty() {
                    self.metadata = partitions
                        .into_iter()
                        .map(|p| (TopicPartition::new(&p.topic, p.partition), p))
                        .collect();
                    return true;
                }
            }
        }
        false
    }

    /// The cached leader of `tp`, if it has one.
    pub fn leader(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.metadata
            .get(tp)
            .and_then(|m| u32::try_from(m.leader).ok())
    }

    /// Partition count of `topic` in the cache (0 if unknown).
    pub fn partitions(&self, topic: &str) -> u32 {
        self.metadata.keys().filter(|tp| tp.topic == topic).count() as u32
    }
}

/// What a producer process does.
#[derive(Clone, Debug)]
pub struct ProducerSpec {
    /// Topic; records go round-robin over its partitions.
    pub topic: String,
    /// `acks`.
    pub acks: Acks,
    /// Records per second (one at a time; slower if the cluster is slow).
    pub rate_per_sec: u32,
    /// `retries` per record.
    pub retries: u32,
    /// `request.timeout.ms` (also the produce timeout sent to the broker).
    pub request_timeout_ms: u64,
}

/// The history's `acks` value for `a`.
pub fn acks_i8(a: Acks) -> i8 {
    match a {
        Acks::Zero => 0,
        Acks::One => 1,
        Acks::All => -1,
    }
}

/// Runs a producer process forever: record values are `<node>-<n>`.
pub async fn run_producer(
    mut conn: KafkaConn,
    node: String,
    spec: ProducerSpec,
    recorder: Recorder,
    process: u64,
) {
    let pause = Duration::from_millis(1000 / spec.rate_per_sec.max(1) as u64);
    let backoff = Duration::from_millis(100);
    let timeout = Duration::from_millis(spec.request_timeout_ms);
    for n in 0u64.. {
        while conn.partitions(&spec.topic) == 0 {
            if !conn.refresh_metadata().await {
                madsim::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let partition = (n % conn.partitions(&spec.topic) as u64) as u32;
        let tp = TopicPartition::new(&spec.topic, partition);
        let value = format!("{node}-{n}");
        let mut attempts = 0;
        while attempts <= spec.retries {
            let Some(leader) = conn.leader(&tp) else {
                conn.refresh_metadata().await;
                madsim::time::sleep(backoff).await;
                attempts += 1;
                continue;
            };
            attempts += 1;
            let id = recorder.invoke(
                process,
                None,
                Some(&broker_node(leader)),
                Call::Produce {
                    topic: tp.topic.clone(),
                    partition,
                    value: value.clone(),
                    acks: acks_i8(spec.acks),
                },
            );
            let produce = |correlation_id| {
                KafkaWire::Produce(Produce {
                    correlation_id,
                    tp: tp.clone(),
                    value: value.clone(),
                    acks: spec.acks,
                    timeout_ms: spec.request_timeout_ms,
                })
            };
            let expect = spec.acks != Acks::Zero;
            let resp = conn.request(leader, produce, timeout, expect).await;
            if !expect {
                recorder.complete(id, Outcome::Ok, Ret::Produced { offset: -1 }, None);
                break;
            }
            let retry = match resp {
                Some(KafkaWire::ProduceResponse(r)) => match r.result {
                    Ok(offset) => {
                        recorder.complete(id, Outcome::Ok, Ret::Produced { offset }, None);
                        false
                    }
                    Err(e) => {
                        let outcome = if e.is_definite_for_produce() {
                            Outcome::Fail
                        } else {
                            Outcome::Info
                        };
                        recorder.complete(id, outcome, error_ret(e), None);
                        true
                    }
                },
                _ => {
                    recorder.complete(id, Outcome::Info, Ret::None, None);
                    true
                }
            };
            if !retry {
                break;
            }
            conn.refresh_metadata().await;
            madsim::time::sleep(backoff).await;
        }
        madsim::time::sleep(pause).await;
    }
}

/// A Kafka error as a history return value.
pub fn error_ret(e: KafkaError) -> Ret {
    Ret::Error {
        code: kafka_error_code(e),
        name: e.name().to_string(),
    }
}
