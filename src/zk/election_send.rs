//! The send side of ZooKeeper's election transport (QuorumCnxManager in 3.8) as a state
//! machine the server host drives: one queue per peer holding at most [`SEND_CAPACITY`]
//! notification, and one send worker per peer that takes [`SEND_SERVICE`] to put a
//! notification on the wire.
//!
//! `toSend` puts a notification in the peer's `CircularBlockingQueue` of capacity one: a
//! newer notification replaces one the worker has not taken yet, so a server that changes
//! its vote faster than it can send tells each peer only its latest vote. That is what
//! bounds election traffic when votes keep changing (the vote order of ZOOKEEPER-1419 is
//! not transitive, and the servers chase each other's votes for ever): the election never
//! settles, but the network carries at most one notification per peer per send time.
//!
//! When a connection with a peer is set up, its `SendWorker` starts by sending what waits
//! in the queue or, with the queue empty, the last message it sent (`lastMessageSent`):
//! either way the latest notification offered for that peer, which a peer that was down
//! when it was offered has never received. So a server that has been looking alone, its
//! resend timer backed off towards a minute, still tells a peer that comes back its vote
//! as soon as the two connect; without it the two could sit on different votes for most
//! of a minute. [`ElectionSendQueues::latest`] keeps that notification; the host offers
//! it again when a peer's new connection brings its first notification.
//!
//! Not modelled: the receive queue (`RECV_CAPACITY` 100, oldest dropped), because the
//! simulated peer takes each notification as it arrives.

use super::fle::Notification;
use super::ids::Sid;
use std::collections::BTreeMap;
use std::time::Duration;

/// Notifications a peer's send queue holds (QuorumCnxManager.SEND_CAPACITY).
pub const SEND_CAPACITY: usize = 1;

/// How long a send worker takes per notification: two thread hand-offs (FLE's WorkerSender
/// to the queue, the queue to QuorumCnxManager's SendWorker) and a socket write with flush.
/// An estimate of a JVM on Linux, not a measurement; what matters for behaviour is that it
/// is far below the network's latency, so it delays nothing unless votes change faster.
pub const SEND_SERVICE: Duration = Duration::from_micros(100);

/// One peer's queue and worker.
#[derive(Debug, Default)]
struct Link {
    /// When the worker is free to send the next notification (simulated ns).
    free_at: u64,
    /// The notification waiting for the worker.
    queued: Option<Notification>,
    /// The latest notification offered (waiting or sent): what a new connection with the
    /// peer starts with.
    latest: Option<Notification>,
}

/// The per-peer send queues of one server incarnation.
#[derive(Debug, Default)]
pub struct ElectionSendQueues {
    links: BTreeMap<Sid, Link>,
    /// Notifications replaced in a queue before their worker took them.
    dropped: u64,
}

const _: () = assert!(SEND_CAPACITY == 1, "Link holds one queued notification");

impl ElectionSendQueues {
    /// Empty queues, every worker free.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `n` for peer `to` at `now_ns`. Returns it if the worker is free, and the
    /// caller sends it now; otherwise it waits in the queue, replacing an older
    /// notification that was waiting, until [`ElectionSendQueues::take_due`] hands it out.
    pub fn offer(&mut self, now_ns: u64, to: Sid, n: Notification) -> Option<Notification> {
        let link = self.links.entry(to).or_default();
        link.latest = Some(n.clone());
        if link.queued.is_none() && link.free_at <= now_ns {
            link.free_at = now_ns + SEND_SERVICE.as_nanos() as u64;
            return Some(n);
        }
        if link.queued.replace(n).is_some() {
            self.dropped += 1;
        }
        None
    }

    /// When the earliest waiting notification's worker is free, if any is waiting.
    pub fn next_due(&self) -> Option<u64> {
        self.links
            .values()
            .filter(|l| l.queued.is_some())
            .map(|l| l.free_at)
            .min()
    }

    /// The waiting notifications whose worker is free by `now_ns`, in peer order; each
    /// worker is busy for [`SEND_SERVICE`] after.
    pub fn take_due(&mut self, now_ns: u64) -> Vec<(Sid, Notification)> {
        let mut due = Vec::new();
        for (sid, link) in &mut self.links {
            if link.free_at <= now_ns {
                if let Some(n) = link.queued.take() {
                    link.free_at = now_ns + SEND_SERVICE.as_nanos() as u64;
                    due.push((*sid, n));
                }
            }
        }
        due
    }

    /// The latest notification offered for `to`, sent or still waiting: what
    /// QuorumCnxManager's `SendWorker` sends first on a new connection with that peer
    /// (the queued message, or `lastMessageSent` when nothing is queued).
    pub fn latest(&self, to: Sid) -> Option<Notification> {
        self.links.get(&to).and_then(|l| l.latest.clone())
    }

    /// Notifications replaced before they were sent, since this incarnation started.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::fle::{PeerState, Vote};
    use crate::zk::ids::Zxid;

    fn vote_for(leader: u64) -> Notification {
        Notification {
            sender: 1,
            state: PeerState::Looking,
            vote: Vote {
                leader,
                zxid: Zxid(0),
                round: 1,
                peer_epoch: 0,
            },
        }
    }

    const T: u64 = 1_000_000_000;

    #[test]
    fn a_free_worker_sends_at_once_and_a_busy_one_keeps_only_the_newest() {
        let mut q = ElectionSendQueues::new();
        let service = SEND_SERVICE.as_nanos() as u64;
        assert_eq!(q.offer(T, 2, vote_for(1)), Some(vote_for(1)));
        // Another peer has its own worker.
        assert_eq!(q.offer(T, 3, vote_for(1)), Some(vote_for(1)));
        assert_eq!(q.next_due(), None);
        assert_eq!(q.offer(T + 1, 2, vote_for(2)), None);
        assert_eq!(q.offer(T + 2, 2, vote_for(3)), None);
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.next_due(), Some(T + service));
        assert!(q.take_due(T + service - 1).is_empty());
        assert_eq!(q.take_due(T + service), vec![(2, vote_for(3))]);
        assert_eq!(q.next_due(), None);
        // The worker is busy again for one service time after that send.
        assert_eq!(q.offer(T + service + 1, 2, vote_for(1)), None);
        assert_eq!(q.next_due(), Some(T + 2 * service));
        assert_eq!(q.offer(T + 3 * service, 3, vote_for(2)), Some(vote_for(2)));
    }

    #[test]
    fn the_latest_offer_is_kept_for_a_new_connection_whether_sent_or_waiting() {
        let mut q = ElectionSendQueues::new();
        assert_eq!(q.latest(2), None);
        q.offer(T, 2, vote_for(1));
        assert_eq!(q.latest(2), Some(vote_for(1)), "sent");
        q.offer(T + 1, 2, vote_for(3));
        assert_eq!(q.latest(2), Some(vote_for(3)), "waiting");
        q.take_due(T + SEND_SERVICE.as_nanos() as u64);
        assert_eq!(q.latest(2), Some(vote_for(3)), "sent after waiting");
        assert_eq!(q.latest(3), None, "per peer");
    }

    #[test]
    fn a_queued_notification_is_not_overtaken_by_a_later_offer() {
        let mut q = ElectionSendQueues::new();
        let service = SEND_SERVICE.as_nanos() as u64;
        q.offer(T, 2, vote_for(1));
        assert_eq!(q.offer(T + 1, 2, vote_for(2)), None);
        // The worker is free again, but a notification is still waiting for take_due:
        // the new one replaces it rather than jumping ahead of it.
        assert_eq!(q.offer(T + service, 2, vote_for(3)), None);
        assert_eq!(q.take_due(T + service), vec![(2, vote_for(3))]);
    }
}
