//! Znode paths and JSON contents Kafka 2.x uses in ZooKeeper (reference/kafka.md §1).
//!
//! Every struct serializes to the exact field names Kafka writes and parses what Kafka
//! writes; `from_json` also checks the `version` field. Map keys are sorted (BTreeMap), so
//! our own output is stable.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Parent of broker registrations.
pub const BROKER_IDS_PATH: &str = "/brokers/ids";
/// Parent of topic assignments.
pub const BROKER_TOPICS_PATH: &str = "/brokers/topics";
/// The ephemeral controller znode.
pub const CONTROLLER_PATH: &str = "/controller";
/// The persistent controller epoch znode; its version is the controller fencing token.
pub const CONTROLLER_EPOCH_PATH: &str = "/controller_epoch";
/// Parent of ISR change notifications.
pub const ISR_CHANGE_NOTIFICATION_PATH: &str = "/isr_change_notification";
/// Prefix of a sequential ISR change notification (ZooKeeper appends 10 digits).
pub const ISR_CHANGE_NOTIFICATION_PREFIX: &str = "/isr_change_notification/isr_change_";

/// `/brokers/ids/<id>`.
pub fn broker_id_path(id: u32) -> String {
    format!("{BROKER_IDS_PATH}/{id}")
}

/// `/brokers/topics/<t>`.
pub fn topic_path(topic: &str) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}")
}

/// `/brokers/topics/<t>/partitions`.
pub fn topic_partitions_path(topic: &str) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions")
}

/// `/brokers/topics/<t>/partitions/<p>`.
pub fn partition_path(topic: &str, partition: u32) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions/{partition}")
}

/// `/brokers/topics/<t>/partitions/<p>/state`.
pub fn partition_state_path(topic: &str, partition: u32) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions/{partition}/state")
}

/// `/consumers/<g>/ids`: parent of the group's member registrations (ephemeral).
pub fn consumer_ids_path(group: &str) -> String {
    format!("/consumers/{group}/ids")
}

/// `/consumers/<g>/ids/<consumer id>`.
pub fn consumer_id_path(group: &str, consumer: &str) -> String {
    format!("/consumers/{group}/ids/{consumer}")
}

/// `/consumers/<g>/owners/<t>/<p>`: ephemeral, contains the owning consumer thread id.
pub fn consumer_owner_path(group: &str, topic: &str, partition: u32) -> String {
    format!("/consumers/{group}/owners/{topic}/{partition}")
}

/// `/consumers/<g>/offsets/<t>/<p>`: persistent, contains a decimal offset.
pub fn consumer_offset_path(group: &str, topic: &str, partition: u32) -> String {
    format!("/consumers/{group}/offsets/{topic}/{partition}")
}

/// A znode's content did not parse or had an unsupported version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZnodeError {
    /// What was being parsed (a struct name or a path).
    pub what: String,
    /// Why it failed.
    pub msg: String,
}

impl fmt::Display for ZnodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.msg)
    }
}

impl std::error::Error for ZnodeError {}

fn from_json<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T, ZnodeError> {
    serde_json::from_str(text).map_err(|e| ZnodeError {
        what: what.to_string(),
        msg: e.to_string(),
    })
}

fn check_version(what: &str, got: u32, ok: &[u32]) -> Result<(), ZnodeError> {
    if ok.contains(&got) {
        Ok(())
    } else {
        Err(ZnodeError {
            what: what.to_string(),
            msg: format!("unsupported version {got} (expected {ok:?})"),
        })
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("znode structs always serialize")
}

/// `/brokers/ids/<id>`, version 4 (2.x) or 5 (2.7+, with `features`, which we ignore).
/// The znode's czxid is the broker epoch (KIP-380).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// 4 or 5.
    pub version: u32,
    /// Host of the first PLAINTEXT endpoint (legacy field).
    pub host: String,
    /// Port of the first PLAINTEXT endpoint (legacy field).
    pub port: u16,
    /// `LISTENER://host:port` strings.
    pub endpoints: Vec<String>,
    /// Listener name to security protocol.
    pub listener_security_protocol_map: BTreeMap<String, String>,
    /// -1 when JMX is off.
    pub jmx_port: i32,
    /// Registration time in ms, as a decimal string.
    pub timestamp: String,
    /// Rack, written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
}

impl BrokerRegistration {
    /// A version 4 registration with one PLAINTEXT listener.
    pub fn plaintext(host: &str, port: u16, timestamp_ms: u64) -> BrokerRegistration {
        BrokerRegistration {
            version: 4,
            host: host.to_string(),
            port,
            endpoints: vec![format!("PLAINTEXT://{host}:{port}")],
            listener_security_protocol_map: BTreeMap::from([(
                "PLAINTEXT".to_string(),
                "PLAINTEXT".to_string(),
            )]),
            jmx_port: -1,
            timestamp: timestamp_ms.to_string(),
            rack: None,
        }
    }
    /// The JSON Kafka stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses and checks the version.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("broker registration", text)?;
        check_version("broker registration", v.version, &[4, 5])?;
        Ok(v)
    }
}

/// `/brokers/topics/<t>` version 1: partition -> replica list (head = preferred leader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAssignment {
    /// 1.
    pub version: u32,
    /// Partition id -> replicas, in assignment order.
    pub partitions: BTreeMap<u32, Vec<u32>>,
}

impl TopicAssignment {
    /// A version 1 assignment.
    pub fn new(partitions: BTreeMap<u32, Vec<u32>>) -> TopicAssignment {
        TopicAssignment {
            version: 1,
            partitions,
        }
    }
    /// The JSON Kafka stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses; versions 1-3 are accepted and the fields of 2 and 3 ignored.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("topic assignment", text)?;
        check_version("topic assignment", v.version, &[1, 2, 3])?;
        Ok(v)
    }
}

/// `/brokers/topics/<t>/partitions/<p>/state`, written by CAS on its znode version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// 1.
    pub version: u32,
    /// The leader's broker id, or -1 for none.
    pub leader: i32,
    /// Incremented by the controller on each leader change (and ISR change it makes).
    pub leader_epoch: i32,
    /// In-sync replicas.
    pub isr: Vec<u32>,
    /// The epoch of the controller that made the last leader decision.
    pub controller_epoch: i32,
}

impl PartitionState {
    /// A version 1 state.
    pub fn new(
        leader: i32,
        leader_epoch: i32,
        isr: Vec<u32>,
        controller_epoch: i32,
    ) -> PartitionState {
        PartitionState {
            version: 1,
            leader,
            leader_epoch,
            isr,
            controller_epoch,
        }
    }
    /// The JSON Kafka stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses and checks the version.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("partition state", text)?;
        check_version("partition state", v.version, &[1])?;
        Ok(v)
    }
}

/// `/controller` (ephemeral).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerZnode {
    /// 1.
    pub version: u32,
    /// The controller's broker id.
    pub brokerid: u32,
    /// Election time in ms, as a decimal string.
    pub timestamp: String,
}

impl ControllerZnode {
    /// A version 1 controller znode.
    pub fn new(brokerid: u32, timestamp_ms: u64) -> ControllerZnode {
        ControllerZnode {
            version: 1,
            brokerid,
            timestamp: timestamp_ms.to_string(),
        }
    }
    /// The JSON Kafka stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses and checks the version.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("controller", text)?;
        check_version("controller", v.version, &[1])?;
        Ok(v)
    }
}

/// `/controller_epoch` content: the epoch as decimal text (`"0"` initially).
pub fn controller_epoch_to_text(epoch: i32) -> String {
    epoch.to_string()
}

/// Parses `/controller_epoch` content.
pub fn controller_epoch_from_text(text: &str) -> Result<i32, ZnodeError> {
    text.trim().parse().map_err(|_| ZnodeError {
        what: CONTROLLER_EPOCH_PATH.to_string(),
        msg: format!("\"{text}\" is not an integer"),
    })
}

/// A topic and partition as in notifications.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartitionJson {
    /// Topic name.
    pub topic: String,
    /// Partition id.
    pub partition: u32,
}

/// `/isr_change_notification/isr_change_<seq>` (persistent sequential), written by a leader
/// after it changed an ISR (before 2.7); the controller sends UpdateMetadata, then deletes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChangeNotification {
    /// 1.
    pub version: u32,
    /// Partitions whose ISR changed.
    pub partitions: Vec<TopicPartitionJson>,
}

impl IsrChangeNotification {
    /// A version 1 notification.
    pub fn new(partitions: Vec<TopicPartitionJson>) -> IsrChangeNotification {
        IsrChangeNotification {
            version: 1,
            partitions,
        }
    }
    /// The JSON Kafka stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses and checks the version.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("isr change notification", text)?;
        check_version("isr change notification", v.version, &[1])?;
        Ok(v)
    }
}

/// `/consumers/<g>/ids/<cid>`: a legacy (0.8) consumer's subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRegistration {
    /// 1.
    pub version: u32,
    /// Topic -> number of consumer threads.
    pub subscription: BTreeMap<String, u32>,
    /// `static`, `white_list` or `black_list`.
    pub pattern: String,
    /// Registration time in ms, as a decimal string.
    pub timestamp: String,
}

impl ConsumerRegistration {
    /// A static subscription with the given thread counts.
    pub fn static_subscription(
        subscription: BTreeMap<String, u32>,
        timestamp_ms: u64,
    ) -> ConsumerRegistration {
        ConsumerRegistration {
            version: 1,
            subscription,
            pattern: "static".to_string(),
            timestamp: timestamp_ms.to_string(),
        }
    }
    /// The JSON the legacy consumer stores.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
    /// Parses and checks the version.
    pub fn from_json(text: &str) -> Result<Self, ZnodeError> {
        let v: Self = from_json("consumer registration", text)?;
        check_version("consumer registration", v.version, &[1])?;
        Ok(v)
    }
}

/// Parses `/consumers/<g>/offsets/<t>/<p>` content (a decimal offset).
pub fn consumer_offset_from_text(text: &str) -> Result<i64, ZnodeError> {
    text.trim().parse().map_err(|_| ZnodeError {
        what: "consumer offset".to_string(),
        msg: format!("\"{text}\" is not an integer"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses Kafka's literal JSON, re-serializes, and compares as JSON values (Kafka's own
    /// key order is a Java map's), and compares our exact output.
    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>(
        parse: fn(&str) -> Result<T, ZnodeError>,
        kafka_json: &str,
        ours: &str,
    ) -> T {
        let v = parse(kafka_json).unwrap_or_else(|e| panic!("{kafka_json}: {e}"));
        let back = serde_json::to_string(&v).expect("serializes");
        let a: serde_json::Value = serde_json::from_str(kafka_json).expect("literal is JSON");
        let b: serde_json::Value = serde_json::from_str(&back).expect("output is JSON");
        assert_eq!(a, b);
        assert_eq!(back, ours);
        v
    }

    #[test]
    fn broker_registration_v4() {
        let kafka = r#"{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://b1:9092"],"jmx_port":-1,"host":"b1","timestamp":"1546300800000","port":9092,"version":4}"#;
        let ours = r#"{"version":4,"host":"b1","port":9092,"endpoints":["PLAINTEXT://b1:9092"],"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"jmx_port":-1,"timestamp":"1546300800000"}"#;
        let v = round_trip(BrokerRegistration::from_json, kafka, ours);
        assert_eq!(
            v,
            BrokerRegistration::plaintext("b1", 9092, 1_546_300_800_000)
        );
        let with_rack = r#"{"version":4,"host":"b1","port":9092,"endpoints":[],"listener_security_protocol_map":{},"jmx_port":-1,"timestamp":"1","rack":"r1"}"#;
        assert_eq!(
            BrokerRegistration::from_json(with_rack)
                .expect("rack")
                .rack
                .as_deref(),
            Some("r1")
        );
        let bad = r#"{"version":3,"host":"b1","port":9092,"endpoints":[],"listener_security_protocol_map":{},"jmx_port":-1,"timestamp":"1"}"#;
        assert!(BrokerRegistration::from_json(bad)
            .expect_err("v3")
            .msg
            .contains("unsupported version 3"));
    }

    #[test]
    fn topic_assignment_v1() {
        let kafka = r#"{"version":1,"partitions":{"1":[2,3,1],"0":[1,2,3]}}"#;
        let ours = r#"{"version":1,"partitions":{"0":[1,2,3],"1":[2,3,1]}}"#;
        let v = round_trip(TopicAssignment::from_json, kafka, ours);
        assert_eq!(v.partitions[&1], vec![2, 3, 1]);
        assert_eq!(topic_path("t"), "/brokers/topics/t");
    }

    #[test]
    fn partition_state_v1() {
        let kafka = r#"{"controller_epoch":3,"leader":1,"version":1,"leader_epoch":5,"isr":[1,2]}"#;
        let ours = r#"{"version":1,"leader":1,"leader_epoch":5,"isr":[1,2],"controller_epoch":3}"#;
        let v = round_trip(PartitionState::from_json, kafka, ours);
        assert_eq!(v, PartitionState::new(1, 5, vec![1, 2], 3));
        assert_eq!(
            partition_state_path("t", 0),
            "/brokers/topics/t/partitions/0/state"
        );
        assert!(PartitionState::from_json(r#"{"version":1,"leader":1}"#).is_err());
    }

    #[test]
    fn controller_and_epoch() {
        let kafka = r#"{"version":1,"brokerid":2,"timestamp":"1546300800123"}"#;
        let v = round_trip(ControllerZnode::from_json, kafka, kafka);
        assert_eq!(v, ControllerZnode::new(2, 1_546_300_800_123));
        assert_eq!(controller_epoch_from_text("0"), Ok(0));
        assert_eq!(
            controller_epoch_from_text(&controller_epoch_to_text(17)),
            Ok(17)
        );
        assert!(controller_epoch_from_text("x").is_err());
    }

    #[test]
    fn isr_change_notification_v1() {
        let kafka = r#"{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":2}]}"#;
        let v = round_trip(IsrChangeNotification::from_json, kafka, kafka);
        assert_eq!(
            v.partitions[1],
            TopicPartitionJson {
                topic: "u".into(),
                partition: 2
            }
        );
    }

    #[test]
    fn consumer_znodes() {
        let kafka = r#"{"version":1,"subscription":{"t":1},"pattern":"static","timestamp":"1546300800000"}"#;
        let v = round_trip(ConsumerRegistration::from_json, kafka, kafka);
        assert_eq!(
            v,
            ConsumerRegistration::static_subscription(
                BTreeMap::from([("t".into(), 1)]),
                1_546_300_800_000
            )
        );
        assert_eq!(consumer_owner_path("g", "t", 0), "/consumers/g/owners/t/0");
        assert_eq!(
            consumer_offset_path("g", "t", 1),
            "/consumers/g/offsets/t/1"
        );
        assert_eq!(consumer_id_path("g", "c1"), "/consumers/g/ids/c1");
        assert_eq!(consumer_offset_from_text("42"), Ok(42));
    }
}
