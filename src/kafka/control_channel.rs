//! The controller's channels to the brokers: Kafka's `ControllerChannelManager`, sans-IO.
//!
//! Kafka 2.x gives every live broker a `RequestSendThread` with a queue of controller
//! requests (LeaderAndIsr, UpdateMetadata, StopReplica). The thread sends the head of the
//! queue and waits for its response; when the broker is not ready (not connected, or not
//! yet listening: a restarted broker starts its request processors only after it has
//! registered), or the send fails or times out, it closes the connection, backs off and
//! sends the same request again, until it is answered or the controller removes the broker
//! (`removeBroker`: the broker died or bounced) or resigns (`shutdown`). A request is never
//! dropped while its broker stays live in the controller's view: the stalled LeaderAndIsr
//! of a partition cut off from its new leader arrives once the network heals.
//!
//! [`ControlChannels`] keeps that promise over the simulator's connections: requests are
//! pipelined on one connection per broker (Kafka sends one at a time; only timing
//! differs), each kept until the broker acknowledges it ([`ControlChannels::on_ack`]); a
//! connection that closes, or whose oldest request waits longer than
//! [`CONTROLLER_SOCKET_TIMEOUT`], is replaced after [`CONTROL_RETRY_BACKOFF`] and every
//! unacknowledged request is sent again, in order. A request may therefore arrive twice;
//! the broker-side checks make that harmless (an equal leader epoch is ignored, an older
//! broker epoch is stale).

use super::wire::{BrokerId, Message};
use kzsim_sim::{ConnId, SimTime};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// `controller.socket.timeout.ms` (default 30 s): how long the oldest unacknowledged
/// request may wait before the connection is closed and the requests are sent again.
pub const CONTROLLER_SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// `RequestSendThread.backoff()`: the pause before a failed channel reconnects.
pub const CONTROL_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// At most this many unacknowledged requests per broker (Kafka's queue is unbounded; a
/// controller sends a handful per event, so this is never reached in a run). Beyond it the
/// oldest is dropped.
pub const CONTROL_QUEUE_MAX: usize = 16_384;

/// What the host must do for the channels.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelOutput {
    /// Open a connection to `to` and report it at once with [`ControlChannels::connected`]
    /// (a connection takes sends immediately; a refused one closes).
    Connect { to: BrokerId },
    /// Send `msg` to `to` on `conn`, tagged with `corr` (acknowledged with that id).
    Send {
        to: BrokerId,
        conn: ConnId,
        corr: u64,
        msg: Message,
    },
    /// Close `conn` (what was already sent on it is still delivered).
    Close { conn: ConnId },
}

#[derive(Debug, Default)]
struct Channel {
    /// Unacknowledged requests, oldest first, with their correlation ids.
    unacked: VecDeque<(u64, Message)>,
    /// The connection carrying them, if one is open.
    conn: Option<ConnId>,
    /// When the unacknowledged requests were (last) sent on `conn`, oldest first.
    sent_at: VecDeque<SimTime>,
    /// No reconnect before this time (after a failure).
    retry_at: SimTime,
}

/// The active controller's request queues, one per broker.
#[derive(Debug, Default)]
pub struct ControlChannels {
    channels: BTreeMap<BrokerId, Channel>,
    next_corr: u64,
}

impl ControlChannels {
    /// No channels yet.
    pub fn new() -> ControlChannels {
        ControlChannels::default()
    }

    /// Queues `msg` for `to`; sends it at once if the channel is connected, else asks for
    /// a connection (unless one is pending or backing off).
    pub fn send(&mut self, now: SimTime, to: BrokerId, msg: Message) -> Vec<ChannelOutput> {
        self.next_corr += 1;
        let corr = self.next_corr;
        let ch = self.channels.entry(to).or_default();
        if ch.unacked.len() >= CONTROL_QUEUE_MAX {
            ch.unacked.pop_front();
            ch.sent_at.pop_front();
        }
        ch.unacked.push_back((corr, msg.clone()));
        match ch.conn {
            Some(conn) => {
                ch.sent_at.push_back(now);
                vec![ChannelOutput::Send {
                    to,
                    conn,
                    corr,
                    msg,
                }]
            }
            None if now >= ch.retry_at => vec![ChannelOutput::Connect { to }],
            None => Vec::new(),
        }
    }

    /// The host opened `conn` to `to`: every unacknowledged request goes out on it, in
    /// order.
    pub fn connected(&mut self, now: SimTime, to: BrokerId, conn: ConnId) -> Vec<ChannelOutput> {
        let Some(ch) = self.channels.get_mut(&to) else {
            return vec![ChannelOutput::Close { conn }];
        };
        ch.conn = Some(conn);
        ch.sent_at = ch.unacked.iter().map(|_| now).collect();
        ch.unacked
            .iter()
            .map(|(corr, msg)| ChannelOutput::Send {
                to,
                conn,
                corr: *corr,
                msg: msg.clone(),
            })
            .collect()
    }

    /// True if `conn` is one of the channels' connections.
    pub fn owns(&self, conn: ConnId) -> bool {
        self.channels.values().any(|c| c.conn == Some(conn))
    }

    /// The broker acknowledged request `corr` on `conn`: it and everything before it on
    /// that channel are done (a connection is FIFO and the broker answers in order).
    pub fn on_ack(&mut self, conn: ConnId, corr: u64) {
        let Some(ch) = self.channels.values_mut().find(|c| c.conn == Some(conn)) else {
            return;
        };
        while ch.unacked.front().is_some_and(|(c, _)| *c <= corr) {
            ch.unacked.pop_front();
            ch.sent_at.pop_front();
        }
    }

    /// `conn` closed (reset, refused, timed out or closed by the broker): reconnect after
    /// the backoff and send again what is unacknowledged.
    pub fn on_closed(&mut self, now: SimTime, conn: ConnId) {
        if let Some(ch) = self.channels.values_mut().find(|c| c.conn == Some(conn)) {
            ch.conn = None;
            ch.sent_at.clear();
            ch.retry_at = now.plus(CONTROL_RETRY_BACKOFF);
        }
    }

    /// Periodic work: closes connections whose oldest request timed out, and reconnects
    /// channels with requests waiting once their backoff is over.
    pub fn poll(&mut self, now: SimTime) -> Vec<ChannelOutput> {
        let mut out = Vec::new();
        for (&to, ch) in self.channels.iter_mut() {
            if let (Some(conn), Some(&first)) = (ch.conn, ch.sent_at.front()) {
                if now.since(first) > CONTROLLER_SOCKET_TIMEOUT {
                    out.push(ChannelOutput::Close { conn });
                    ch.conn = None;
                    ch.sent_at.clear();
                    ch.retry_at = now.plus(CONTROL_RETRY_BACKOFF);
                }
            }
            if ch.conn.is_none() && !ch.unacked.is_empty() && now >= ch.retry_at {
                out.push(ChannelOutput::Connect { to });
            }
        }
        out
    }

    /// `removeBroker`: the controller saw `to` die or bounce; its queue is dropped.
    pub fn remove_broker(&mut self, to: BrokerId) -> Vec<ChannelOutput> {
        self.channels
            .remove(&to)
            .and_then(|ch| ch.conn)
            .map(|conn| ChannelOutput::Close { conn })
            .into_iter()
            .collect()
    }

    /// The controller resigned (`ControllerChannelManager.shutdown`): every queue is
    /// dropped.
    pub fn clear(&mut self) -> Vec<ChannelOutput> {
        std::mem::take(&mut self.channels)
            .into_values()
            .filter_map(|ch| ch.conn)
            .map(|conn| ChannelOutput::Close { conn })
            .collect()
    }

    /// Unacknowledged requests for `to`.
    pub fn pending(&self, to: BrokerId) -> usize {
        self.channels.get(&to).map_or(0, |c| c.unacked.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::wire::UpdateMetadata;

    fn um(epoch: i32) -> Message {
        Message::UpdateMetadata(UpdateMetadata {
            controller_id: 1,
            controller_epoch: epoch,
            broker_epoch: 7,
            live_brokers: vec![1, 2],
            partitions: Vec::new(),
        })
    }

    fn at(ms: u64) -> SimTime {
        SimTime::ZERO.plus(Duration::from_millis(ms))
    }

    fn sent(out: &[ChannelOutput]) -> Vec<(ConnId, u64)> {
        out.iter()
            .filter_map(|o| match o {
                ChannelOutput::Send { conn, corr, .. } => Some((*conn, *corr)),
                _ => None,
            })
            .collect()
    }

    /// The 2.x `RequestSendThread` promise: a request survives a lost connection and is
    /// sent again, in order, on the next one, until the broker acknowledges it.
    #[test]
    fn unacknowledged_requests_are_sent_again_after_the_connection_closes() {
        let mut c = ControlChannels::new();
        assert_eq!(
            c.send(at(0), 2, um(1)),
            vec![ChannelOutput::Connect { to: 2 }]
        );
        assert_eq!(
            sent(&c.connected(at(0), 2, ConnId(10))),
            vec![(ConnId(10), 1)]
        );
        assert_eq!(sent(&c.send(at(1), 2, um(1))), vec![(ConnId(10), 2)]);
        c.on_ack(ConnId(10), 1);
        assert_eq!(c.pending(2), 1);
        // The connection resets (the broker restarted, or the network gave up).
        c.on_closed(at(5), ConnId(10));
        assert!(!c.owns(ConnId(10)));
        assert!(c.send(at(6), 2, um(1)).is_empty(), "backing off");
        assert!(c.poll(at(50)).is_empty(), "still backing off");
        assert_eq!(c.poll(at(105)), vec![ChannelOutput::Connect { to: 2 }]);
        assert_eq!(
            sent(&c.connected(at(105), 2, ConnId(11))),
            vec![(ConnId(11), 2), (ConnId(11), 3)]
        );
        c.on_ack(ConnId(11), 3);
        assert_eq!(c.pending(2), 0);
        assert!(c.poll(at(200)).is_empty());
    }

    /// A stalled connection (a network partition) is given up after
    /// `controller.socket.timeout.ms`, and the requests go out on a new one.
    #[test]
    fn a_stalled_request_times_out_and_is_sent_again() {
        let mut c = ControlChannels::new();
        c.send(at(0), 3, um(1));
        c.connected(at(0), 3, ConnId(4));
        assert!(c.poll(at(29_000)).is_empty());
        assert_eq!(
            c.poll(at(30_001)),
            vec![ChannelOutput::Close { conn: ConnId(4) }]
        );
        c.on_closed(at(30_001), ConnId(4)); // our own close: nothing changes
        assert!(c.poll(at(30_050)).is_empty(), "backing off");
        assert_eq!(c.poll(at(30_101)), vec![ChannelOutput::Connect { to: 3 }]);
        assert_eq!(
            sent(&c.connected(at(30_101), 3, ConnId(5))),
            vec![(ConnId(5), 1)]
        );
    }

    /// `removeBroker` and `shutdown` drop the queues: nothing is sent again.
    #[test]
    fn removal_and_resignation_drop_the_queues() {
        let mut c = ControlChannels::new();
        c.send(at(0), 2, um(1));
        c.connected(at(0), 2, ConnId(1));
        c.send(at(0), 3, um(1));
        assert_eq!(
            c.remove_broker(2),
            vec![ChannelOutput::Close { conn: ConnId(1) }]
        );
        assert_eq!(c.pending(2), 0);
        assert_eq!(c.pending(3), 1);
        assert!(c.clear().is_empty(), "broker 3 had no connection yet");
        assert!(c.poll(at(1_000)).is_empty());
    }
}
