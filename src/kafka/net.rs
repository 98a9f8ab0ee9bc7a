//! What Kafka nodes say on the simulated network, and the host plumbing they share: the
//! inbox split between a node's ZooKeeper client and its Kafka traffic, the mapping of
//! [`super::zkops`] onto the ZooKeeper client's requests, and Kafka error codes.

use super::wire::{BrokerId, TopicPartition};
use super::wire::{KafkaError, Message, PartitionMetadata, Produce, ProduceResponse};
use super::zkops::{self, ZkError, ZkFailure, ZkResult};
use crate::net::NetMsg;
use crate::zk::request::{OpResult, ZkOp, ZkResponse};
use crate::zk::types::{CreateMode, ErrorCode};
use kzsim_sim::net::{Inbox, InboxRoute};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A Kafka message on the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum KafkaWire {
    /// Broker to broker: replication traffic.
    Broker { from: BrokerId, msg: Message },
    /// Controller to broker: a controller request on the controller's channel to that
    /// broker ([`super::control_channel`]), answered with [`KafkaWire::ControlAck`].
    Control {
        from: BrokerId,
        corr: u64,
        msg: Message,
    },
    /// Broker to controller: the request `corr` was handled (applied or rejected by the
    /// broker-side checks; Kafka's LeaderAndIsr/UpdateMetadata/StopReplica response).
    ControlAck { corr: u64 },
    /// Client produce (the broker assigns its own correlation id internally).
    Produce(Produce),
    /// Answer to [`KafkaWire::Produce`], with the client's correlation id.
    ProduceResponse(ProduceResponse),
    /// Consumer fetch: records from `offset`, at most `max`, below the leader's HW.
    ClientFetch {
        correlation_id: u64,
        tp: TopicPartition,
        offset: i64,
        max: usize,
    },
    /// Answer to [`KafkaWire::ClientFetch`]: (offset, value) pairs.
    ClientFetchResponse {
        correlation_id: u64,
        tp: TopicPartition,
        result: Result<Vec<(i64, String)>, KafkaError>,
    },
    /// Metadata request (all topics).
    Metadata { correlation_id: u64 },
    /// The broker's metadata cache (as of the last UpdateMetadata it accepted).
    MetadataResponse {
        correlation_id: u64,
        partitions: Vec<PartitionMetadata>,
    },
}

/// Kafka's numeric error code for `e` (the protocol's `ErrorCode` table).
pub fn kafka_error_code(e: KafkaError) -> i32 {
    match e {
        KafkaError::OffsetOutOfRange => 1,
        KafkaError::NotLeaderForPartition => 6,
        KafkaError::RequestTimedOut => 7,
        KafkaError::StaleControllerEpoch => 11,
        KafkaError::NotEnoughReplicas => 19,
        KafkaError::NotEnoughReplicasAfterAppend => 20,
        KafkaError::FencedLeaderEpoch => 74,
        KafkaError::UnknownLeaderEpoch => 75,
        KafkaError::StaleBrokerEpoch => 77,
    }
}

/// The node name of broker `id`.
pub fn broker_node(id: BrokerId) -> String {
    format!("broker{id}")
}

/// The broker id of a node named `broker<id>`.
pub fn broker_id_of(node: &str) -> Option<BrokerId> {
    node.strip_prefix("broker")?.parse().ok()
}

/// Splits a node's inbox: events whose peer is a ZooKeeper server go to the returned
/// ZooKeeper inbox (replaceable, for a new session's client), the rest to the Kafka inbox.
/// The network routes them directly (no forwarding task), in order per connection.
pub struct Demux {
    route: InboxRoute<NetMsg>,
}

impl Demux {
    /// Starts the split; returns the demux (for re-homing ZooKeeper events), the first
    /// ZooKeeper inbox and the Kafka inbox.
    pub fn start(
        inbox: Inbox<NetMsg>,
        zk_servers: &[String],
    ) -> (Demux, Inbox<NetMsg>, Inbox<NetMsg>) {
        let zk: BTreeSet<Arc<str>> = zk_servers.iter().map(|s| Arc::from(s.as_str())).collect();
        let (kafka, zk, route) = inbox.split(zk);
        (Demux { route }, zk, kafka)
    }

    /// A fresh ZooKeeper inbox for a new client; the old client's inbox gets nothing more.
    pub fn new_zk_inbox(&self) -> Inbox<NetMsg> {
        self.route.replace()
    }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn mode(m: zkops::CreateMode) -> CreateMode {
    match m {
        zkops::CreateMode::Persistent => CreateMode::PERSISTENT,
        zkops::CreateMode::Ephemeral => CreateMode::EPHEMERAL,
        zkops::CreateMode::PersistentSequential => CreateMode::PERSISTENT_SEQUENTIAL,
    }
}

fn create_op(path: &str, data: &str, m: zkops::CreateMode) -> ZkOp {
    ZkOp::Create {
        path: path.to_string(),
        data: Some(bytes(data)),
        mode: mode(m),
    }
}

fn set_data_op(path: &str, data: &str, version: Option<i32>) -> ZkOp {
    ZkOp::SetData {
        path: path.to_string(),
        data: bytes(data),
        version: version.unwrap_or(-1),
    }
}

fn delete_op(path: &str, version: Option<i32>) -> ZkOp {
    ZkOp::Delete {
        path: path.to_string(),
        version: version.unwrap_or(-1),
    }
}

/// Kafka's ZooKeeper request as the client library's request.
pub fn to_zk_op(op: &zkops::ZkOp) -> ZkOp {
    match op {
        zkops::ZkOp::Create {
            path,
            data,
            mode: m,
        } => create_op(path, data, *m),
        zkops::ZkOp::SetData {
            path,
            data,
            version,
        } => set_data_op(path, data, *version),
        zkops::ZkOp::GetData { path, watch } => ZkOp::GetData {
            path: path.clone(),
            watch: *watch,
        },
        zkops::ZkOp::GetChildren { path, watch } => ZkOp::GetChildren {
            path: path.clone(),
            watch: *watch,
        },
        zkops::ZkOp::Exists { path, watch } => ZkOp::Exists {
            path: path.clone(),
            watch: *watch,
        },
        zkops::ZkOp::Delete { path, version } => delete_op(path, *version),
        zkops::ZkOp::Multi(ops) => ZkOp::Multi(
            ops.iter()
                .map(|m| match m {
                    zkops::MultiOp::Check { path, version } => ZkOp::Check {
                        path: path.clone(),
                        version: *version,
                    },
                    zkops::MultiOp::Create {
                        path,
                        data,
                        mode: m,
                    } => create_op(path, data, *m),
                    zkops::MultiOp::SetData {
                        path,
                        data,
                        version,
                    } => set_data_op(path, data, *version),
                    zkops::MultiOp::Delete { path, version } => delete_op(path, *version),
                })
                .collect(),
        ),
    }
}

/// The ZooKeeper error Kafka's logic sees. Everything that leaves the outcome unknown
/// (connection loss, timeouts, server-side trouble) is CONNECTIONLOSS.
pub fn to_zk_error(code: ErrorCode) -> ZkError {
    match code {
        ErrorCode::NoNode => ZkError::NoNode,
        ErrorCode::NodeExists => ZkError::NodeExists,
        ErrorCode::BadVersion => ZkError::BadVersion,
        ErrorCode::SessionExpired => ZkError::SessionExpired,
        ErrorCode::NotEmpty => ZkError::NotEmpty,
        _ => ZkError::ConnectionLoss,
    }
}

fn stat(s: &crate::zk::types::Stat) -> zkops::Stat {
    zkops::Stat {
        version: s.version,
        czxid: s.czxid,
        ephemeral_owner: s.ephemeral_owner,
    }
}

fn text(d: &Option<Vec<u8>>) -> String {
    d.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// The client's reply as Kafka's [`ZkResult`]/[`ZkFailure`]; a failed multi names the
/// index of its first failing op.
pub fn to_zk_result(r: Result<ZkResponse, ErrorCode>) -> Result<ZkResult, ZkFailure> {
    let resp = r.map_err(|c| ZkFailure::plain(to_zk_error(c)))?;
    Ok(match resp {
        ZkResponse::Created { path } => ZkResult::Created { path },
        ZkResponse::Stat(s) => ZkResult::SetData { stat: stat(&s) },
        ZkResponse::Data { data, stat: s } => ZkResult::Data {
            data: text(&data),
            stat: stat(&s),
        },
        ZkResponse::Exists(s) => ZkResult::Exists {
            stat: s.as_ref().map(stat),
        },
        ZkResponse::Children { children, .. } => ZkResult::Children { children },
        ZkResponse::Deleted | ZkResponse::Checked | ZkResponse::Synced { .. } => ZkResult::Done,
        ZkResponse::Multi(results) => {
            if let Some((i, code)) = results.iter().enumerate().find_map(|(i, r)| match r {
                OpResult::Error(c) if !c.is_ok() => Some((i, *c)),
                _ => None,
            }) {
                return Err(ZkFailure::in_multi(to_zk_error(code), i));
            }
            ZkResult::Multi {
                results: results
                    .into_iter()
                    .map(|r| match r {
                        OpResult::Created { path } => ZkResult::Created { path },
                        OpResult::SetData(s) => ZkResult::SetData { stat: stat(&s) },
                        OpResult::Deleted | OpResult::Checked | OpResult::Error(_) => {
                            ZkResult::Done
                        }
                    })
                    .collect(),
            }
        }
        ZkResponse::Error(c) => return Err(ZkFailure::plain(to_zk_error(c))),
        ZkResponse::SessionCreated { .. } | ZkResponse::SessionClosed => ZkResult::Done,
    })
}

/// A watch notification as Kafka's event (`None` for kinds Kafka does not watch).
pub fn to_watch(w: &crate::zk::client::WatchNotice) -> Option<zkops::ZkWatchEvent> {
    let kind = match w.event.as_str() {
        "NodeCreated" => zkops::WatchKind::Created,
        "NodeDeleted" => zkops::WatchKind::Deleted,
        "NodeDataChanged" => zkops::WatchKind::DataChanged,
        "NodeChildrenChanged" => zkops::WatchKind::ChildrenChanged,
        _ => return None,
    };
    Some(zkops::ZkWatchEvent {
        path: w.path.clone(),
        kind,
    })
}

/// Creates `path` and its missing ancestors as empty persistent znodes (Kafka's
/// `makeSurePersistentPathExists`). Returns false if ZooKeeper failed (not NODEEXISTS).
pub async fn ensure_path(zk: &crate::zk::client::ZkClient, path: &str) -> bool {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        let op = ZkOp::Create {
            path: at.clone(),
            data: Some(Vec::new()),
            mode: CreateMode::PERSISTENT,
        };
        match zk.submit(op).await {
            Ok(_) | Err(ErrorCode::NodeExists) => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_multi_names_its_failing_op() {
        let r = to_zk_result(Ok(ZkResponse::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])));
        assert_eq!(r, Err(ZkFailure::in_multi(ZkError::BadVersion, 1)));
        assert_eq!(
            to_zk_result(Err(ErrorCode::OperationTimeout)),
            Err(ZkFailure::plain(ZkError::ConnectionLoss))
        );
    }

    #[test]
    fn broker_node_names_round_trip() {
        assert_eq!(broker_id_of(&broker_node(3)), Some(3));
        assert_eq!(broker_id_of("zk1"), None);
    }
}
