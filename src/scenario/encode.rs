//! Writing a scenario back as a file the loader reads to an equal [`Scenario`]: how a
//! shrunk random schedule becomes a story a user can replay and edit. Every setting is
//! written explicitly (no `config =` references), so the file stands alone.

use super::duration::{format_duration, format_signed_ms};
use super::{format_fsync_latency, Acks, DiskLoss, Fault, Scenario, Target, Teaching};
use std::fmt::Write;
use std::time::Duration;

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn d(x: Duration) -> String {
    q(&format_duration(x))
}

fn target(t: &Target) -> String {
    match t {
        Target::Node(n) | Target::Label(n) => n.clone(),
        Target::ZkLeader => "zk-leader".into(),
        Target::ZkFollower => "zk-follower".into(),
        Target::Controller => "controller".into(),
        Target::PartitionLeader { topic, partition } => format!("leader:{topic}/{partition}"),
    }
}

fn targets(ts: &[Target]) -> String {
    let items: Vec<String> = ts.iter().map(|t| q(&target(t))).collect();
    format!("[{}]", items.join(", "))
}

impl Scenario {
    /// This scenario as TOML that [`super::parse`] reads back to an equal value.
    pub fn to_toml(&self) -> String {
        let mut o = String::new();
        // Writing to a String cannot fail; the results below are ignored for that reason.
        let _ = writeln!(o, "name = {}", q(&self.name));
        let _ = writeln!(o, "description = {}", q(&self.description));
        let _ = writeln!(o, "duration = {}", d(self.duration));
        if self.wall_clock_start_ms != crate::cluster::DEFAULT_WALL_CLOCK_START_MS {
            let start = super::format_wall_clock_start(self.wall_clock_start_ms);
            let _ = writeln!(o, "wall_clock_start = {}", q(&start));
        }
        let zk = &self.cluster.zookeeper;
        let _ = writeln!(
            o,
            "\n[zookeeper]\nservers = {}\ntick_time = {}",
            zk.servers,
            d(zk.tick_time)
        );
        let _ = writeln!(
            o,
            "init_limit = {}\nsync_limit = {}\nread_only = {}\nsnap_count = {}",
            zk.init_limit, zk.sync_limit, zk.read_only, zk.snap_count
        );
        if let Some(n) = zk.purge_retain {
            let _ = writeln!(o, "autopurge_snap_retain_count = {n}");
        }
        if let Some(latency) = zk.fsync_latency {
            let _ = writeln!(o, "fsync_latency = {}", q(&format_fsync_latency(latency)));
        }
        if let Some(k) = &self.cluster.kafka {
            let _ = writeln!(o, "\n[kafka]\nbrokers = {}", k.brokers);
            let _ = writeln!(o, "zk_session_timeout = {}", d(k.zk_session_timeout));
            let _ = writeln!(o, "replica_lag_time_max = {}", d(k.replica_lag_time_max));
            let _ = writeln!(o, "unclean_leader_election = {}", k.unclean_leader_election);
            let _ = writeln!(o, "min_insync_replicas = {}", k.min_insync_replicas);
            if k.log_flush_interval_messages != i64::MAX as u64 {
                let _ = writeln!(
                    o,
                    "log_flush_interval_messages = {}",
                    k.log_flush_interval_messages
                );
            }
            for t in &k.topics {
                let _ = writeln!(
                    o,
                    "\n[[kafka.topics]]\nname = {}\npartitions = {}",
                    q(&t.name),
                    t.partitions
                );
                let _ = writeln!(o, "replication_factor = {}", t.replication_factor);
                let _ = writeln!(o, "min_insync_replicas = {}", t.min_insync_replicas);
                let _ = writeln!(o, "unclean_leader_election = {}", t.unclean_leader_election);
            }
        }
        for g in &self.workload.zk_clients {
            let mix: Vec<String> = g
                .mix
                .iter()
                .map(|(k, w)| format!("{} = {w}", k.as_str()))
                .collect();
            let _ = writeln!(
                o,
                "\n[[workload.zk_clients]]\ncount = {}\nmix = {{ {} }}",
                g.count,
                mix.join(", ")
            );
            let _ = writeln!(o, "keys = {}\nrate = {}", g.keys, g.rate_per_sec);
            let _ = writeln!(o, "session_timeout = {}", d(g.session_timeout));
            if !g.active.is_empty() {
                let w: Vec<String> = g
                    .active
                    .iter()
                    .map(|(a, b)| format!("{{ from = {}, to = {} }}", d(*a), d(*b)))
                    .collect();
                let _ = writeln!(o, "active = [{}]", w.join(", "));
            }
        }
        for p in &self.workload.producers {
            let acks = match p.acks {
                Acks::None => "0".to_owned(),
                Acks::Leader => "1".to_owned(),
                Acks::All => q("all"),
            };
            let _ = writeln!(
                o,
                "\n[[workload.producers]]\ncount = {}\ntopic = {}",
                p.count,
                q(&p.topic)
            );
            let _ = writeln!(o, "acks = {acks}\nrate = {}", p.rate_per_sec);
        }
        for c in &self.workload.consumer_groups {
            let topics: Vec<String> = c.topics.iter().map(|t| q(t)).collect();
            let _ = writeln!(o, "\n[[workload.consumer_groups]]\ngroup = {}", q(&c.group));
            let _ = writeln!(
                o,
                "topics = [{}]\nmembers = {}",
                topics.join(", "),
                c.members
            );
        }
        for f in &self.faults {
            let _ = writeln!(
                o,
                "\n[[faults]]\nat = {}\nkind = {}",
                d(f.at),
                q(f.fault.kind())
            );
            if let Some(l) = &f.label {
                let _ = writeln!(o, "label = {}", q(l));
            }
            if let Some(a) = &f.after {
                let _ = writeln!(o, "after = {}", q(a.moment.as_str()));
                if !a.delay.is_zero() {
                    let _ = writeln!(o, "after_delay = {}", d(a.delay));
                }
            }
            if let Some(t) = f.fault.single_target() {
                let _ = writeln!(o, "target = {}", q(&target(t)));
            }
            match &f.fault {
                Fault::Crash { disk, .. } if *disk != DiskLoss::None => {
                    let _ = writeln!(o, "disk = {}", q(disk.as_str()));
                }
                Fault::Pause {
                    duration: Some(p), ..
                } => {
                    let _ = writeln!(o, "duration = {}", d(*p));
                }
                Fault::Partition { groups } => {
                    let gs: Vec<String> = groups.iter().map(|g| targets(g)).collect();
                    let _ = writeln!(o, "groups = [{}]", gs.join(", "));
                }
                Fault::Cut { from, to } => {
                    let _ = writeln!(o, "from = {}\nto = {}", targets(from), targets(to));
                }
                Fault::Net {
                    loss_permille,
                    latency,
                } => {
                    if let Some(l) = loss_permille {
                        let _ = writeln!(o, "loss = {}", q(&format!("{}.{}%", l / 10, l % 10)));
                    }
                    if let Some((lo, hi)) = latency {
                        let _ = writeln!(o, "latency = [{}, {}]", d(*lo), d(*hi));
                    }
                }
                Fault::SlowDisk { fsync_latency, .. } => {
                    let _ = writeln!(
                        o,
                        "fsync_latency = {}",
                        q(&format_fsync_latency(*fsync_latency))
                    );
                }
                Fault::ClockSkew {
                    offset_ms,
                    drift_ppm,
                    ..
                } => {
                    let _ = writeln!(
                        o,
                        "offset = {}\ndrift_ppm = {drift_ppm}",
                        q(&format_signed_ms(*offset_ms))
                    );
                }
                _ => {}
            }
        }
        let e = &self.expect;
        let checkers: Vec<String> = e.checkers.iter().map(|c| q(c.as_str())).collect();
        let _ = writeln!(o, "\n[expect]\ncheckers = [{}]", checkers.join(", "));
        let mut windows: Vec<(&str, String)> = Vec::new();
        for t in &e.teaching {
            let w = |a: &str, x: Duration, b: &str, y: Duration| {
                format!("{{ {a} = {}, {b} = {} }}", d(x), d(y))
            };
            match t {
                Teaching::WritesUnavailable { from, to } => {
                    windows.push(("writes_unavailable", w("from", *from, "to", *to)));
                }
                Teaching::WritesAvailable { from, to } => {
                    windows.push(("writes_available", w("from", *from, "to", *to)));
                }
                Teaching::ZkLeaderWithin { after, within } => {
                    windows.push(("zk_leader_within", w("after", *after, "within", *within)));
                }
                Teaching::NewControllerEpoch { after, within } => {
                    windows.push((
                        "new_controller_epoch",
                        w("after", *after, "within", *within),
                    ));
                }
                Teaching::PartitionLeaderWithin {
                    topic,
                    partition,
                    after,
                    within,
                } => windows.push((
                    "partition_leader_within",
                    format!(
                        "{{ topic = {}, partition = {partition}, after = {}, within = {} }}",
                        q(topic),
                        d(*after),
                        d(*within)
                    ),
                )),
                Teaching::EphemeralGone {
                    path,
                    after,
                    within,
                } => windows.push((
                    "ephemeral_gone",
                    format!(
                        "{{ path = {}, after = {}, within = {} }}",
                        q(path),
                        d(*after),
                        d(*within)
                    ),
                )),
                Teaching::ReadsFailWithoutQuorum => {
                    windows.push(("reads_fail_without_quorum", "true".into()))
                }
                Teaching::Acks1LossesAllowed => {
                    windows.push(("acks1_losses_allowed", "true".into()))
                }
                Teaching::UncleanLossesAllowed => {
                    windows.push(("unclean_losses_allowed", "true".into()))
                }
            }
        }
        // One key per kind: several windows of a kind become an array.
        let mut keys: Vec<&str> = windows.iter().map(|(k, _)| *k).collect();
        keys.dedup();
        let mut seen = std::collections::BTreeSet::new();
        for k in keys {
            if !seen.insert(k) {
                continue;
            }
            let vals: Vec<&String> = windows
                .iter()
                .filter(|(kk, _)| *kk == k)
                .map(|(_, v)| v)
                .collect();
            if vals.len() == 1 || vals[0] == "true" {
                let _ = writeln!(o, "{k} = {}", vals[0]);
            } else {
                let joined: Vec<&str> = vals.iter().map(|s| s.as_str()).collect();
                let _ = writeln!(o, "{k} = [{}]", joined.join(", "));
            }
        }
        o
    }
}
