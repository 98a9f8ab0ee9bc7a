//! Kafka in ZooKeeper mode (being written).
