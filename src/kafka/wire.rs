//! Kafka requests and responses between clients, brokers and the controller, with Kafka's
//! field and error names. Only the fields kzsim's logic reads are modelled.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A broker id (`broker.id`).
pub type BrokerId = u32;

/// A topic and partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition id.
    pub partition: u32,
}

impl TopicPartition {
    /// Builds a topic-partition.
    pub fn new(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka error codes kzsim produces, serialized with Kafka's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KafkaError {
    /// This broker is not the partition's leader (or does not host it).
    NotLeaderForPartition,
    /// acks=all and the ISR is smaller than `min.insync.replicas`: nothing was appended.
    NotEnoughReplicas,
    /// acks=all: appended, but the ISR shrank below `min.insync.replicas` before the HW
    /// reached the record. The record may survive.
    NotEnoughReplicasAfterAppend,
    /// The request's leader epoch is older than the replica's (KIP-320).
    FencedLeaderEpoch,
    /// The request's leader epoch is newer than the replica's (KIP-320).
    UnknownLeaderEpoch,
    /// A fetch offset beyond the leader's log end.
    OffsetOutOfRange,
    /// acks=all was not acknowledged within the request timeout. The record may survive.
    RequestTimedOut,
    /// A controller request from an older controller epoch.
    StaleControllerEpoch,
    /// A controller request for an older incarnation of this broker (KIP-380).
    StaleBrokerEpoch,
}

impl KafkaError {
    /// Kafka's name, as in `Errors.java`.
    pub fn name(self) -> &'static str {
        match self {
            KafkaError::NotLeaderForPartition => "NOT_LEADER_FOR_PARTITION",
            KafkaError::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            KafkaError::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            KafkaError::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            KafkaError::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            KafkaError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            KafkaError::RequestTimedOut => "REQUEST_TIMED_OUT",
            KafkaError::StaleControllerEpoch => "STALE_CONTROLLER_EPOCH",
            KafkaError::StaleBrokerEpoch => "STALE_BROKER_EPOCH",
        }
    }

    /// True if the failure is definite (the write did not happen); false if it may have.
    ///
    /// NOT_LEADER_FOR_PARTITION is not definite: a leader answers it both to a request that
    /// arrived after it lost leadership and to one it had appended and was holding for the
    /// ISR when leadership moved (Kafka's DelayedProduce), and the appended record may
    /// survive on the new leader. The client cannot tell the two apart, so a retry may
    /// write the value twice (non-idempotent producers).
    pub fn is_definite_for_produce(self) -> bool {
        !matches!(
            self,
            KafkaError::NotEnoughReplicasAfterAppend
                | KafkaError::RequestTimedOut
                | KafkaError::NotLeaderForPartition
        )
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The producer's `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// acks=0: no response at all.
    Zero,
    /// acks=1: answered after the leader's append.
    One,
    /// acks=all (-1): answered once the HW passes the record.
    All,
}

impl Acks {
    /// From the wire value 0, 1 or -1.
    pub fn from_wire(v: i16) -> Option<Acks> {
        match v {
            0 => Some(Acks::Zero),
            1 => Some(Acks::One),
            -1 => Some(Acks::All),
            _ => None,
        }
    }
}

/// One record as stored and replicated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its offset in the partition.
    pub offset: i64,
    /// The leader epoch in which the leader appended it.
    pub leader_epoch: i32,
    /// The payload.
    pub value: String,
}

/// Produce one record to one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produce {
    /// Chosen by the client; echoed in the response.
    pub correlation_id: u64,
    /// Destination.
    pub tp: TopicPartition,
    /// Payload.
    pub value: String,
    /// Durability requested.
    pub acks: Acks,
    /// How long acks=all may wait for the HW (Kafka's `timeout`, default 30000).
    pub timeout_ms: u64,
}

/// The answer to a [`Produce`] (never sent for acks=0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceResponse {
    /// The request's correlation id.
    pub correlation_id: u64,
    /// Destination.
    pub tp: TopicPartition,
    /// The record's offset, or why it failed.
    pub result: Result<i64, KafkaError>,
}

/// A follower's fetch (replica fetcher).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetch {
    /// The fetching follower.
    pub replica_id: BrokerId,
    /// Partition.
    pub tp: TopicPartition,
    /// The follower's LEO: the first offset it wants.
    pub fetch_offset: i64,
    /// The leader epoch the follower believes current (KIP-320).
    pub current_leader_epoch: i32,
}

/// The leader's answer to a [`Fetch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Partition.
    pub tp: TopicPartition,
    /// The `current_leader_epoch` of the fetch this answers.
    pub current_leader_epoch: i32,
    /// The `fetch_offset` of the fetch this answers.
    pub fetch_offset: i64,
    /// Records from `fetch_offset` and the leader's HW, or an error.
    pub result: Result<FetchData, KafkaError>,
}

/// A successful fetch's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchData {
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// Records starting at the fetch offset (maybe none).
    pub records: Vec<Record>,
}

/// OffsetsForLeaderEpoch (KIP-101): "where does epoch `leader_epoch` end in your log?"
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpoch {
    /// The asking follower.
    pub replica_id: BrokerId,
    /// Partition.
    pub tp: TopicPartition,
    /// The epoch the asker believes current (KIP-320 fencing).
    pub current_leader_epoch: i32,
    /// The epoch asked about (the asker's latest epoch).
    pub leader_epoch: i32,
}

/// The answer: the largest epoch ≤ the requested one and where it ends (KIP-279).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpochResponse {
    /// Partition.
    pub tp: TopicPartition,
    /// The `current_leader_epoch` of the request this answers.
    pub current_leader_epoch: i32,
    /// `(leader_epoch, end_offset)`; -1/-1 when the leader knows no such epoch.
    pub result: Result<(i32, i64), KafkaError>,
}

/// One partition's part of a [`LeaderAndIsr`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderAndIsrPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Leader broker, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// ISR.
    pub isr: Vec<BrokerId>,
    /// The partition state znode's version, for the leader's own ISR CAS.
    pub zk_version: i32,
    /// All assigned replicas in assignment order.
    pub replicas: Vec<BrokerId>,
    /// The controller epoch that made this decision (written into the state znode).
    pub controller_epoch: i32,
    /// True when the partition was just created.
    pub is_new: bool,
}

impl LeaderAndIsrPartition {
    /// Its topic-partition.
    pub fn tp(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }
}

/// Controller -> broker: lead or follow these partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderAndIsr {
    /// The sending controller.
    pub controller_id: BrokerId,
    /// Its epoch.
    pub controller_epoch: i32,
    /// The target broker's epoch as the controller knows it (KIP-380).
    pub broker_epoch: i64,
    /// Partition decisions.
    pub partitions: Vec<LeaderAndIsrPartition>,
}

/// One partition's metadata in [`UpdateMetadata`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Leader, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// ISR.
    pub isr: Vec<BrokerId>,
    /// Assigned replicas.
    pub replicas: Vec<BrokerId>,
}

/// Controller -> every live broker: the cluster metadata brokers serve to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMetadata {
    /// The sending controller.
    pub controller_id: BrokerId,
    /// Its epoch.
    pub controller_epoch: i32,
    /// The target broker's epoch as the controller knows it.
    pub broker_epoch: i64,
    /// Live brokers.
    pub live_brokers: Vec<BrokerId>,
    /// Partition states (only changed ones, or all on failover).
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition in [`StopReplica`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReplicaPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Leader epoch (2.6+); -1 = no epoch, -2 = during topic deletion.
    pub leader_epoch: i32,
}

/// Controller -> broker: stop replicating (and maybe delete) these partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReplica {
    /// The sending controller.
    pub controller_id: BrokerId,
    /// Its epoch.
    pub controller_epoch: i32,
    /// The target broker's epoch as the controller knows it.
    pub broker_epoch: i64,
    /// Delete the logs too.
    pub delete_partitions: bool,
    /// Partitions.
    pub partitions: Vec<StopReplicaPartition>,
}

/// Every broker-to-broker and controller-to-broker message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "api", rename_all = "snake_case")]
pub enum Message {
    /// Follower -> leader.
    Fetch(Fetch),
    /// Leader -> follower.
    FetchResponse(FetchResponse),
    /// Follower -> leader.
    OffsetsForLeaderEpoch(OffsetsForLeaderEpoch),
    /// Leader -> follower.
    OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse),
    /// Controller -> broker.
    LeaderAndIsr(LeaderAndIsr),
    /// Controller -> broker.
    UpdateMetadata(UpdateMetadata),
    /// Controller -> broker.
    StopReplica(StopReplica),
}

impl Message {
    /// Kafka's API name, for traces and drop-by-kind fault rules.
    pub fn api_name(&self) -> &'static str {
        match self {
            Message::Fetch(_) => "Fetch",
            Message::FetchResponse(_) => "FetchResponse",
            Message::OffsetsForLeaderEpoch(_) => "OffsetsForLeaderEpoch",
            Message::OffsetsForLeaderEpochResponse(_) => "OffsetsForLeaderEpochResponse",
            Message::LeaderAndIsr(_) => "LeaderAndIsr",
            Message::UpdateMetadata(_) => "UpdateMetadata",
            Message::StopReplica(_) => "StopReplica",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        for e in [
            KafkaError::NotEnoughReplicas,
            KafkaError::FencedLeaderEpoch,
            KafkaError::StaleControllerEpoch,
        ] {
            assert_eq!(
                serde_json::to_string(&e).expect("serializes"),
                format!("\"{}\"", e.name())
            );
        }
        assert_eq!(Acks::from_wire(-1), Some(Acks::All));
        assert_eq!(Acks::from_wire(2), None);
    }
}
