//! Fast Leader Election (FastLeaderElection.lookForLeader in ZooKeeper 3.8) as a sans-IO state
//! machine, plus the [`Majority`] quorum verifier that ZAB also uses.
//!
//! The host drives one [`Fle`] per server: [`Fle::start`] when the server goes LOOKING,
//! [`Fle::on_notification`] for every notification received from a voter or observer, and
//! [`Fle::on_timer`] when the single timer last requested by [`FleOutput::SetTimer`] fires.
//! The outputs must be executed in order. Once [`FleOutput::Decided`] is emitted the instance is
//! inert until the next `start`; while FOLLOWING/LEADING the host answers LOOKING notifications
//! itself with [`answer_looking`].
//!
//! Modelled: vote order, round (logicalclock) handling, the 200 ms finalize wait, the two
//! tallies for joining an established ensemble, the zxid −1 rules, the receive side's answer
//! to lower-round LOOKING peers and to non-voters, and exponential resend backoff.
//! Not modelled: hierarchical quorums (every voter has weight 1), dynamic reconfiguration,
//! observers' own elections, and the transport, which belongs to the host (its send queue
//! of one is [`super::election_send`]; the connection tie-break is not modelled).

use super::ids::{Epoch, Sid, Zxid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A vote: the proposed leader, its last zxid and epoch, and the election round it was cast in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Proposed leader's sid.
    pub leader: Sid,
    /// Proposed leader's last processed zxid.
    pub zxid: Zxid,
    /// Election round (`electionEpoch` / `logicalclock`) the vote belongs to.
    pub round: u64,
    /// Proposed leader's currentEpoch (`peerEpoch`).
    pub peer_epoch: Epoch,
}

/// A server's role as announced in notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PeerState {
    /// Electing.
    Looking,
    /// Following an established leader.
    Following,
    /// Leading.
    Leading,
    /// Non-voting learner.
    Observing,
}

/// An election notification: the sender's state and its current vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Who sent it.
    pub sender: Sid,
    /// The sender's state when it sent it.
    pub state: PeerState,
    /// The sender's current vote (for a FOLLOWING/LEADING sender: the vote that elected its
    /// leader, with the round of that election).
    pub vote: Vote,
}

/// Timing and bug flags of the election. `Default` is ZooKeeper 3.8 with all flags off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleConfig {
    /// Silence after a quorum agrees before deciding; also the first resend timeout (200 ms).
    pub finalize_wait_ms: u64,
    /// Cap of the doubling resend timeout (60 000 ms).
    pub max_notification_interval_ms: u64,
    /// ZOOKEEPER-1419: tie-break on sid when zxids are equal even if epochs differ, which makes
    /// the vote order non-transitive.
    pub tie_break_sid_ignoring_epoch: bool,
    /// ZOOKEEPER-975 (pre-fix rule): decide on the current proposal at once as soon as a
    /// same-round vote from every voter is recorded, without the equal-votes quorum test and
    /// without the finalize wait.
    pub decide_when_all_voted: bool,
    /// ZOOKEEPER-1732 (election half): match out-of-election votes on leader, zxid, round and
    /// epoch instead of leader and epoch, so a restarted server may never see a quorum.
    pub out_of_election_strict_match: bool,
}

impl Default for FleConfig {
    fn default() -> Self {
        FleConfig {
            finalize_wait_ms: 200,
            max_notification_interval_ms: 60_000,
            tie_break_sid_ignoring_epoch: false,
            decide_when_all_voted: false,
            out_of_election_strict_match: false,
        }
    }
}

/// Majority quorum verifier (QuorumMaj): a set is a quorum iff it holds more than half of the
/// voters. Sids outside the voter set are not counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Majority {
    voters: BTreeSet<Sid>,
    /// Bug flag ("quorum size off by one"): accept one vote fewer than a majority
    /// (e.g. 1 of 3, 2 of 5).
    pub off_by_one: bool,
}

impl Majority {
    /// A verifier over `voters` with the bug flag off.
    pub fn new(voters: BTreeSet<Sid>) -> Majority {
        Majority {
            voters,
            off_by_one: false,
        }
    }

    /// The same verifier with the off-by-one bug flag set to `on`.
    pub fn with_off_by_one(mut self, on: bool) -> Majority {
        self.off_by_one = on;
        self
    }

    /// The voting members.
    pub fn voters(&self) -> &BTreeSet<Sid> {
        &self.voters
    }

    /// True if `sid` is a voting member.
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    /// Votes needed for a quorum: `n / 2 + 1`, or `n / 2` with the bug flag.
    pub fn needed(&self) -> usize {
        let majority = self.voters.len() / 2 + 1;
        if self.off_by_one {
            majority - 1
        } else {
            majority
        }
    }

    /// True if the voters in `acks` form a quorum.
    pub fn is_quorum(&self, acks: &BTreeSet<Sid>) -> bool {
        acks.iter().filter(|s| self.voters.contains(s)).count() >= self.needed()
    }
}

/// The vote order of §1: `new` beats `cur` iff its peerEpoch is higher, or epochs are equal and
/// its zxid is higher, or both are equal and its leader sid is higher. The round is ignored.
/// (Every voter has weight 1 under majority quorums, so the weight test always passes.)
pub fn total_order_predicate(new: &Vote, cur: &Vote) -> bool {
    vote_beats(new, cur, false)
}

/// [`total_order_predicate`] with the ZOOKEEPER-1419 bug flag: when
/// `tie_break_sid_ignoring_epoch`, equal zxids tie-break on sid whatever the epochs.
pub fn vote_beats(new: &Vote, cur: &Vote, tie_break_sid_ignoring_epoch: bool) -> bool {
    if tie_break_sid_ignoring_epoch {
        // Pre-1419: (newEpoch > curEpoch) || (newEpoch == curEpoch && newZxid > curZxid)
        //           || (newZxid == curZxid && newId > curId)
        return new.peer_epoch > cur.peer_epoch
            || (new.peer_epoch == cur.peer_epoch && new.zxid > cur.zxid)
            || (new.zxid == cur.zxid && new.leader > cur.leader);
    }
    (new.peer_epoch, new.zxid, new.leader) > (cur.peer_epoch, cur.zxid, cur.leader)
}

/// The answer a FOLLOWING/LEADING server sends at once to a LOOKING peer: its current vote
/// (the vote that elected its leader, peerEpoch rewritten to the new epoch after sync) and
/// its state.
pub fn answer_looking(me: Sid, my_state: PeerState, my_vote: &Vote) -> Notification {
    Notification {
        sender: me,
        state: my_state,
        vote: *my_vote,
    }
}

/// The outcome of one election.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The elected leader.
    pub leader: Sid,
    /// The final vote (round = the round this server ends the election in); the host keeps it
    /// as its current vote for [`answer_looking`].
    pub vote: Vote,
    /// `Leading` if `leader` is this server, else `Following`.
    pub role: PeerState,
    /// The tally that decided, as (voter, the leader it proposed), ascending by voter: the
    /// same-round votes for a LOOKING decision, or the FOLLOWING/LEADING tally used to join
    /// an established ensemble.
    pub votes: Vec<(Sid, Sid)>,
    /// Milliseconds from [`Fle::start`] to the decision.
    pub took_ms: u64,
}

/// What the host must do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FleOutput {
    /// Send `n` to server `to` (never to this server itself: its own vote is counted
    /// internally).
    Send {
        /// Destination sid.
        to: Sid,
        /// The notification.
        n: Notification,
    },
    /// (Re)arm the single election timer to fire at `at_ms`, replacing any earlier one.
    SetTimer {
        /// Absolute time, same clock as `now_ms`.
        at_ms: u64,
    },
    /// The election ended; the server now leads or follows.
    Decided(Decision),
}

/// A recorded vote and the state of the server that cast it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Recorded {
    vote: Vote,
    state: PeerState,
}

/// One server's election state. Keeps `logicalclock` across elections (a restarted server
/// starts from a fresh `Fle`, round 0).
#[derive(Clone, Debug)]
pub struct Fle {
    me: Sid,
    quorum: Majority,
    config: FleConfig,
    round: u64,
    looking: bool,
    init_vote: Vote,
    proposal: Vote,
    /// Same-round votes (`recvset`), cleared when the round moves.
    recvset: BTreeMap<Sid, Recorded>,
    /// FOLLOWING/LEADING votes of any round (`outofelection`).
    out_of_election: BTreeMap<Sid, Recorded>,
    /// A quorum agrees with the proposal; waiting for `finalize_wait_ms` of no better vote.
    finalizing: bool,
    not_timeout_ms: u64,
    deadline_ms: u64,
    started_ms: u64,
    decision: Option<Decision>,
}

impl Fle {
    /// A server `me` electing among `voters` with a plain majority quorum.
    pub fn new(me: Sid, voters: BTreeSet<Sid>, config: FleConfig) -> Fle {
        Fle::with_quorum(me, Majority::new(voters), config)
    }

    /// A server `me` electing with the given quorum verifier (e.g. with the off-by-one flag).
    pub fn with_quorum(me: Sid, quorum: Majority, config: FleConfig) -> Fle {
        let blank = Vote {
            leader: me,
            zxid: Zxid::NONE,
            round: 0,
            peer_epoch: 0,
        };
        Fle {
            me,
            quorum,
            config,
            round: 0,
            looking: false,
            init_vote: blank,
            proposal: blank,
            recvset: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalizing: false,
            not_timeout_ms: config.finalize_wait_ms,
            deadline_ms: 0,
            started_ms: 0,
            decision: None,
        }
    }

    /// Enters LOOKING: round += 1, votes for itself with (`last_zxid`, `current_epoch`),
    /// broadcasts to every other voter and arms the first resend timer (finalize_wait_ms).
    /// `last_zxid` is the in-memory tree's last processed zxid ([`Zxid::NONE`] for an
    /// untrusted empty database: such a server only joins an established ensemble).
    pub fn start(&mut self, now_ms: u64, last_zxid: Zxid, current_epoch: Epoch) -> Vec<FleOutput> {
        self.round += 1;
        self.looking = true;
        self.finalizing = false;
        self.decision = None;
        self.started_ms = now_ms;
        self.recvset.clear();
        self.out_of_election.clear();
        self.not_timeout_ms = self.config.finalize_wait_ms;
        self.init_vote = Vote {
            leader: self.me,
            zxid: last_zxid,
            round: self.round,
            peer_epoch: current_epoch,
        };
        self.proposal = self.init_vote;
        let mut out = Vec::new();
        self.broadcast(&mut out);
        self.check_looking_quorum(now_ms, &mut out);
        if self.looking && !self.finalizing {
            self.arm(now_ms, self.not_timeout_ms, &mut out);
        }
        out
    }

    /// Handles one notification received from `n.sender` (the table of §1).
    pub fn on_notification(&mut self, now_ms: u64, n: Notification) -> Vec<FleOutput> {
        let mut out = Vec::new();
        if !self.looking || n.sender == self.me {
            return out;
        }
        // Receive side (WorkerReceiver): non-voters get my vote back and nothing else.
        if !self.quorum.is_voter(n.sender) {
            out.push(self.send_current(n.sender));
            return out;
        }
        // Receive side: a LOOKING peer in an older round is told my vote and round.
        if n.state == PeerState::Looking && n.vote.round < self.round {
            out.push(self.send_current(n.sender));
        }
        if self.finalizing {
            if vote_beats(
                &n.vote,
                &self.proposal,
                self.config.tie_break_sid_ignoring_epoch,
            ) {
                // Put it back and resume the main loop with it.
                self.finalizing = false;
            } else {
                // Consumed and dropped; the 200 ms wait starts over.
                self.arm(now_ms, self.config.finalize_wait_ms, &mut out);
                return out;
            }
        }
        if self.quorum.is_voter(n.vote.leader) {
            match n.state {
                PeerState::Looking => self.on_looking(now_ms, &n, &mut out),
                PeerState::Following | PeerState::Leading => {
                    self.on_established(now_ms, &n, &mut out)
                }
                PeerState::Observing => {}
            }
        }
        // Every received notification restarts the main loop's poll.
        if self.looking && !self.finalizing {
            self.arm(now_ms, self.not_timeout_ms, &mut out);
        }
        out
    }

    /// Handles the timer armed by the last [`FleOutput::SetTimer`]. Early or stale calls do
    /// nothing. After the finalize wait it decides; otherwise it re-sends the current vote and
    /// doubles the resend timeout up to the cap.
    pub fn on_timer(&mut self, now_ms: u64) -> Vec<FleOutput> {
        let mut out = Vec::new();
        if !self.looking || now_ms < self.deadline_ms {
            return out;
        }
        if self.finalizing {
            let tally = self.recvset.clone();
            self.decide(now_ms, self.proposal, &tally, &mut out);
            return out;
        }
        self.broadcast(&mut out);
        self.not_timeout_ms =
            (self.not_timeout_ms * 2).min(self.config.max_notification_interval_ms);
        self.arm(now_ms, self.not_timeout_ms, &mut out);
        out
    }

    /// This server's sid.
    pub fn me(&self) -> Sid {
        self.me
    }

    /// The quorum verifier in use.
    pub fn quorum(&self) -> &Majority {
        &self.quorum
    }

    /// True between [`Fle::start`] and the decision.
    pub fn is_looking(&self) -> bool {
        self.looking
    }

    /// The current round (logicalclock).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The current proposal (round = current round).
    pub fn proposal(&self) -> Vote {
        Vote {
            round: self.round,
            ..self.proposal
        }
    }

    /// The current resend timeout (200, 400, … capped).
    pub fn notification_timeout_ms(&self) -> u64 {
        self.not_timeout_ms
    }

    /// The last decision, if the election ended and no new one started.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    fn current_notification(&self) -> Notification {
        Notification {
            sender: self.me,
            state: PeerState::Looking,
            vote: self.proposal(),
        }
    }

    fn send_current(&self, to: Sid) -> FleOutput {
        FleOutput::Send {
            to,
            n: self.current_notification(),
        }
    }

    /// sendNotifications(): to every other voter; my own copy is recorded directly (the real
    /// server loops it back to itself), subject to the same zxid −1 rules.
    fn broadcast(&mut self, out: &mut Vec<FleOutput>) {
        let n = self.current_notification();
        for &to in self.quorum.voters() {
            if to != self.me {
                out.push(FleOutput::Send { to, n: n.clone() });
            }
        }
        if self.quorum.is_voter(self.me)
            && self.init_vote.zxid != Zxid::NONE
            && n.vote.zxid != Zxid::NONE
        {
            self.recvset.insert(
                self.me,
                Recorded {
                    vote: n.vote,
                    state: PeerState::Looking,
                },
            );
        }
    }

    fn arm(&mut self, now_ms: u64, after_ms: u64, out: &mut Vec<FleOutput>) {
        self.deadline_ms = now_ms + after_ms;
        out.push(FleOutput::SetTimer {
            at_ms: self.deadline_ms,
        });
    }

    fn on_looking(&mut self, now_ms: u64, n: &Notification, out: &mut Vec<FleOutput>) {
        // An untrusted empty database neither votes nor counts LOOKING votes; −1 votes are void.
        if self.init_vote.zxid == Zxid::NONE || n.vote.zxid == Zxid::NONE {
            return;
        }
        let tie = self.config.tie_break_sid_ignoring_epoch;
        if n.vote.round > self.round {
            self.round = n.vote.round;
            self.recvset.clear();
            // Better of (theirs, my *initial* vote), not of my current proposal.
            self.proposal = if vote_beats(&n.vote, &self.init_vote, tie) {
                n.vote
            } else {
                self.init_vote
            };
            self.broadcast(out);
        } else if n.vote.round < self.round {
            return;
        } else if vote_beats(&n.vote, &self.proposal, tie) {
            self.proposal = n.vote;
            self.broadcast(out);
        }
        self.recvset.insert(
            n.sender,
            Recorded {
                vote: n.vote,
                state: PeerState::Looking,
            },
        );
        if self.all_voted_bug(now_ms, out) {
            return;
        }
        self.check_looking_quorum(now_ms, out);
    }

    fn check_looking_quorum(&mut self, now_ms: u64, out: &mut Vec<FleOutput>) {
        let target = Recorded {
            vote: self.proposal(),
            state: PeerState::Looking,
        };
        let agree = agreeing(&self.recvset, &target, Tally::SameRound);
        if self.quorum.is_quorum(&agree) {
            self.finalizing = true;
            self.arm(now_ms, self.config.finalize_wait_ms, out);
        }
    }

    /// ZOOKEEPER-975 bug flag: every voter has a same-round vote recorded ⇒ decide now.
    fn all_voted_bug(&mut self, now_ms: u64, out: &mut Vec<FleOutput>) -> bool {
        if !self.config.decide_when_all_voted
            || self
                .quorum
                .voters()
                .iter()
                .any(|v| !self.recvset.contains_key(v))
        {
            return false;
        }
        let tally = self.recvset.clone();
        self.decide(now_ms, self.proposal(), &tally, out);
        true
    }

    /// A FOLLOWING/LEADING notification: the same-round and out-of-election tallies.
    fn on_established(&mut self, now_ms: u64, n: &Notification, out: &mut Vec<FleOutput>) {
        let target = Recorded {
            vote: n.vote,
            state: n.state,
        };
        if n.vote.round == self.round {
            self.recvset.insert(n.sender, target);
            if self.all_voted_bug(now_ms, out) {
                return;
            }
            let agree = agreeing(&self.recvset, &target, Tally::SameRound);
            if self.quorum.is_quorum(&agree)
                && self.check_leader(&self.recvset, n.vote.leader, n.vote.round)
            {
                let tally = self.recvset.clone();
                self.decide(now_ms, n.vote, &tally, out);
                return;
            }
        }
        self.out_of_election.insert(n.sender, target);
        let strict = self.config.out_of_election_strict_match;
        let agree = agreeing(
            &self.out_of_election,
            &target,
            Tally::OutOfElection { strict },
        );
        if self.quorum.is_quorum(&agree)
            && self.check_leader(&self.out_of_election, n.vote.leader, n.vote.round)
        {
            self.round = n.vote.round;
            let tally = self.out_of_election.clone();
            self.decide(now_ms, n.vote, &tally, out);
        }
    }

    /// checkLeader: the proposed leader's own notification says LEADING (if it is me, the
    /// rounds must match).
    fn check_leader(&self, votes: &BTreeMap<Sid, Recorded>, leader: Sid, round: u64) -> bool {
        if leader != self.me {
            votes
                .get(&leader)
                .is_some_and(|r| r.state == PeerState::Leading)
        } else {
            self.round == round
        }
    }

    fn decide(
        &mut self,
        now_ms: u64,
        vote: Vote,
        tally: &BTreeMap<Sid, Recorded>,
        out: &mut Vec<FleOutput>,
    ) {
        let role = if vote.leader == self.me {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        let decision = Decision {
            leader: vote.leader,
            vote,
            role,
            votes: tally.iter().map(|(&s, r)| (s, r.vote.leader)).collect(),
            took_ms: now_ms.saturating_sub(self.started_ms),
        };
        self.looking = false;
        self.finalizing = false;
        self.decision = Some(decision.clone());
        out.push(FleOutput::Decided(decision));
    }
}

/// Which tally [`agreeing`] counts in (they compare FOLLOWING/LEADING votes differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tally {
    /// `recvset`: FOLLOWING/LEADING entries are stored without a version, so Vote.equals
    /// falls back to the leader id alone.
    SameRound,
    /// `outofelection`: leader and peerEpoch (`strict`: all four fields, pre-ZOOKEEPER-1732).
    OutOfElection { strict: bool },
}

/// The sids whose recorded vote equals `target` under Vote.equals of 3.8: if either side is
/// LOOKING, leader, zxid, round and peerEpoch must all match; otherwise per [`Tally`].
fn agreeing(votes: &BTreeMap<Sid, Recorded>, target: &Recorded, tally: Tally) -> BTreeSet<Sid> {
    let full = |a: &Vote, b: &Vote| {
        a.leader == b.leader
            && a.zxid == b.zxid
            && a.round == b.round
            && a.peer_epoch == b.peer_epoch
    };
    votes
        .iter()
        .filter(|(_, r)| {
            let (a, b) = (&r.vote, &target.vote);
            if r.state == PeerState::Looking || target.state == PeerState::Looking {
                return full(a, b);
            }
            match tally {
                Tally::SameRound => a.leader == b.leader,
                Tally::OutOfElection { strict: false } => {
                    a.leader == b.leader && a.peer_epoch == b.peer_epoch
                }
                Tally::OutOfElection { strict: true } => full(a, b),
            }
        })
        .map(|(&s, _)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn v(leader: Sid, zxid: Zxid, peer_epoch: Epoch) -> Vote {
        Vote {
            leader,
            zxid,
            round: 1,
            peer_epoch,
        }
    }

    #[test]
    fn vote_order_table() {
        // (new, cur, beats, beats with the ZOOKEEPER-1419 flag)
        #[rustfmt::skip]
        let rows = [
            ("higher epoch wins over higher zxid", v(1, z(1, 3), 2), v(2, z(1, 9), 1), true, true),
            ("lower epoch loses to lower zxid", v(2, z(1, 9), 1), v(1, z(1, 3), 2), false, false),
            ("same epoch, higher zxid", v(1, z(1, 9), 1), v(3, z(1, 3), 1), true, true),
            ("same epoch, lower zxid", v(3, z(1, 3), 1), v(1, z(1, 9), 1), false, false),
            ("all equal but sid: higher sid", v(3, z(1, 3), 1), v(2, z(1, 3), 1), true, true),
            ("all equal but sid: lower sid", v(2, z(1, 3), 1), v(3, z(1, 3), 1), false, false),
            ("identical votes do not beat", v(2, z(1, 3), 1), v(2, z(1, 3), 1), false, false),
            ("equal zxid, lower epoch, higher sid: 1419 only", v(3, z(1, 3), 1), v(2, z(1, 3), 2), false, true),
            ("round is ignored", Vote { round: 1, ..v(2, z(1, 3), 1) }, Vote { round: 9, ..v(1, z(1, 3), 1) }, true, true),
        ];
        for (name, new, cur, want, want_1419) in rows {
            assert_eq!(total_order_predicate(&new, &cur), want, "{name}");
            assert_eq!(vote_beats(&new, &cur, false), want, "{name}");
            assert_eq!(
                vote_beats(&new, &cur, true),
                want_1419,
                "{name} (1419 flag)"
            );
        }
    }

    #[test]
    fn majority_table() {
        let set = |s: &[Sid]| s.iter().copied().collect::<BTreeSet<Sid>>();
        #[rustfmt::skip]
        let rows: &[(&[Sid], &[Sid], bool, bool)] = &[
            // (voters, acks, quorum, quorum with off_by_one)
            (&[1, 2, 3], &[1, 2], true, true),
            (&[1, 2, 3], &[3], false, true),
            (&[1, 2, 3], &[], false, false),
            (&[1, 2, 3, 4], &[1, 2], false, true),
            (&[1, 2, 3, 4], &[1, 2, 3], true, true),
            (&[1, 2, 3, 4, 5], &[1, 5], false, true),
            (&[1, 2, 3, 4, 5], &[1], false, false),
            (&[1, 2, 3], &[1, 7, 8], false, true), // non-voters do not count
        ];
        for (voters, acks, want, want_bug) in rows {
            let m = Majority::new(set(voters));
            assert_eq!(m.is_quorum(&set(acks)), *want, "{voters:?} {acks:?}");
            let bug = m.with_off_by_one(true);
            assert_eq!(
                bug.is_quorum(&set(acks)),
                *want_bug,
                "{voters:?} {acks:?} off_by_one"
            );
        }
    }

    /// A deterministic pump: instant FIFO delivery between the servers that are up, the clock
    /// jumps to the earliest armed timer when no message is in flight. Decided servers answer
    /// LOOKING notifications with [`answer_looking`], as the host does.
    struct Net {
        now: u64,
        voters: BTreeSet<Sid>,
        config: FleConfig,
        fles: BTreeMap<Sid, Fle>,
        up: BTreeSet<Sid>,
        queue: VecDeque<(Sid, Notification)>,
        timers: BTreeMap<Sid, u64>,
        decided: BTreeMap<Sid, Decision>,
        /// Per server, the delay of every timer it armed.
        delays: BTreeMap<Sid, Vec<u64>>,
    }

    impl Net {
        fn new(n: u64, config: FleConfig) -> Net {
            let voters: BTreeSet<Sid> = (1..=n).collect();
            let fles = voters
                .iter()
                .map(|&s| (s, Fle::new(s, voters.clone(), config)))
                .collect();
            Net {
                now: 0,
                voters,
                config,
                fles,
                up: BTreeSet::new(),
                queue: VecDeque::new(),
                timers: BTreeMap::new(),
                decided: BTreeMap::new(),
                delays: BTreeMap::new(),
            }
        }

        fn start(&mut self, sid: Sid, last_zxid: Zxid, epoch: Epoch) {
            self.up.insert(sid);
            self.decided.remove(&sid);
            let now = self.now;
            let outs = self
                .fles
                .get_mut(&sid)
                .expect("known sid")
                .start(now, last_zxid, epoch);
            self.apply(sid, outs);
        }

        /// Crash and restart: a fresh `Fle` (round 0), then `start`.
        fn restart(&mut self, sid: Sid, last_zxid: Zxid, epoch: Epoch) {
            self.fles
                .insert(sid, Fle::new(sid, self.voters.clone(), self.config));
            self.timers.remove(&sid);
            self.start(sid, last_zxid, epoch);
        }

        fn apply(&mut self, from: Sid, outs: Vec<FleOutput>) {
            for out in outs {
                match out {
                    FleOutput::Send { to, n } => {
                        assert_ne!(to, from, "Fle never sends to itself");
                        assert_eq!(n.sender, from);
                        if self.up.contains(&to) {
                            self.queue.push_back((to, n));
                        }
                    }
                    FleOutput::SetTimer { at_ms } => {
                        self.timers.insert(from, at_ms);
                        self.delays.entry(from).or_default().push(at_ms - self.now);
                    }
                    FleOutput::Decided(d) => {
                        assert!(!self.fles[&from].is_looking());
                        self.timers.remove(&from);
                        self.decided.insert(from, d);
                    }
                }
            }
        }

        fn run_until(&mut self, limit: u64) {
            let mut steps = 0;
            loop {
                steps += 1;
                assert!(steps < 100_000, "message storm");
                if let Some((to, n)) = self.queue.pop_front() {
                    if let Some(d) = self.decided.get(&to) {
                        if n.state == PeerState::Looking && self.up.contains(&n.sender) {
                            let answer = answer_looking(to, d.role, &d.vote);
                            self.queue.push_back((n.sender, answer));
                        }
                    } else {
                        let now = self.now;
                        let outs = self
                            .fles
                            .get_mut(&to)
                            .expect("known sid")
                            .on_notification(now, n);
                        self.apply(to, outs);
                    }
                    continue;
                }
                let next = self
                    .timers
                    .iter()
                    .map(|(&s, &at)| (at, s))
                    .filter(|&(at, _)| at <= limit)
                    .min();
                let Some((at, sid)) = next else {
                    self.now = self.now.max(limit);
                    return;
                };
                self.now = self.now.max(at);
                self.timers.remove(&sid);
                let now = self.now;
                let outs = self.fles.get_mut(&sid).expect("known sid").on_timer(now);
                self.apply(sid, outs);
            }
        }

        /// Every server in `who` decided `leader`; exactly the leader leads.
        fn assert_leader(&self, who: &[Sid], leader: Sid) {
            for s in who {
                let d = self
                    .decided
                    .get(s)
                    .unwrap_or_else(|| panic!("server {s} undecided"));
                assert_eq!(d.leader, leader, "server {s}: {d:?}");
                assert_eq!(d.vote.leader, leader);
                let role = if *s == leader {
                    PeerState::Leading
                } else {
                    PeerState::Following
                };
                assert_eq!(d.role, role, "server {s}");
                assert!(
                    self.voters_agreeing(d) * 2 > self.voters.len(),
                    "server {s} decided without quorum: {d:?}"
                );
            }
        }

        fn voters_agreeing(&self, d: &Decision) -> usize {
            d.votes.iter().filter(|&&(_, l)| l == d.leader).count()
        }
    }

    #[test]
    fn equal_state_elects_highest_sid() {
        for n in [3u64, 5] {
            let mut net = Net::new(n, FleConfig::default());
            for s in 1..=n {
                net.start(s, z(1, 5), 1);
            }
            net.run_until(10_000);
            let all: Vec<Sid> = (1..=n).collect();
            net.assert_leader(&all, n);
            for s in &all {
                let d = &net.decided[s];
                assert_eq!(d.took_ms, 200, "{n} servers: finalize wait, server {s}");
                assert_eq!(
                    d.vote,
                    Vote {
                        leader: n,
                        zxid: z(1, 5),
                        round: 1,
                        peer_epoch: 1
                    }
                );
            }
        }
    }

    #[test]
    fn higher_zxid_wins() {
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 9), 1);
        net.start(2, z(1, 3), 1);
        net.start(3, z(1, 3), 1);
        net.run_until(10_000);
        net.assert_leader(&[1, 2, 3], 1);
        assert_eq!(net.decided[&3].vote.zxid, z(1, 9));
    }

    #[test]
    fn higher_epoch_beats_higher_zxid() {
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 9), 1);
        net.start(2, z(1, 3), 2);
        net.start(3, z(1, 3), 1);
        net.run_until(10_000);
        net.assert_leader(&[1, 2, 3], 2);
        assert_eq!(net.decided[&1].vote.peer_epoch, 2);
    }

    #[test]
    fn two_of_three_elect_and_the_third_follows_at_once() {
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 5), 1);
        net.start(2, z(1, 5), 1);
        net.run_until(10_000);
        net.assert_leader(&[1, 2], 2);
        // Server 3 (best sid) arrives late: the ensemble is established, it follows 2.
        net.start(3, z(1, 5), 1);
        net.run_until(20_000);
        net.assert_leader(&[1, 2, 3], 2);
        assert_eq!(
            net.decided[&3].took_ms, 0,
            "joins without the finalize wait"
        );
    }

    #[test]
    fn lone_server_stays_looking_and_backs_off_to_the_cap() {
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 5), 1);
        net.run_until(250_000);
        assert!(net.fles[&1].is_looking());
        assert!(net.decided.is_empty());
        let want = [
            200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000, 60_000,
        ];
        assert_eq!(net.delays[&1], want);
        assert_eq!(net.fles[&1].notification_timeout_ms(), 60_000);
        assert_eq!(net.fles[&1].round(), 1, "resends do not bump the round");
    }

    #[test]
    fn restarted_follower_rejoins_in_the_same_round() {
        let mut net = Net::new(3, FleConfig::default());
        for s in 1..=3 {
            net.start(s, z(1, 5), 1);
        }
        net.run_until(10_000);
        net.assert_leader(&[1, 2, 3], 3);
        net.restart(1, z(1, 5), 1);
        net.run_until(20_000);
        net.assert_leader(&[1, 2, 3], 3);
        let d = &net.decided[&1];
        assert_eq!(d.took_ms, 0, "follows immediately");
        assert_eq!(d.vote.round, 1);
    }

    #[test]
    fn restarted_follower_rejoins_through_the_out_of_election_tally() {
        let mut net = Net::new(3, FleConfig::default());
        for s in 1..=3 {
            net.start(s, z(1, 5), 1);
        }
        net.run_until(10_000);
        // A second election (e.g. after the leader lost its quorum) moves everyone to round 2.
        for s in 1..=3 {
            net.start(s, z(2, 7), 2);
        }
        net.run_until(20_000);
        net.assert_leader(&[1, 2, 3], 3);
        assert_eq!(net.decided[&2].vote.round, 2);
        // Server 1 restarts with round 0 -> 1; the others answer with round 2.
        net.restart(1, z(2, 7), 2);
        assert_eq!(net.fles[&1].round(), 1);
        net.run_until(30_000);
        net.assert_leader(&[1, 2, 3], 3);
        let d = &net.decided[&1];
        assert_eq!(d.took_ms, 0, "follows immediately");
        assert_eq!(d.vote.round, 2, "adopts the ensemble's round");
        assert_eq!(net.fles[&1].round(), 2);
        assert_eq!(d.votes, vec![(2, 3), (3, 3)]);
    }

    #[test]
    fn better_late_vote_within_the_finalize_wait_changes_the_outcome() {
        // Server 3 arrives 100 ms into 1 and 2's finalize wait: its better vote wins.
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 5), 1);
        net.start(2, z(1, 5), 1);
        net.run_until(100);
        assert!(net.decided.is_empty());
        net.start(3, z(1, 5), 1);
        net.run_until(10_000);
        net.assert_leader(&[1, 2, 3], 3);
        assert_eq!(net.decided[&1].took_ms, 300);

        // The same vote after the 200 ms wait is too late: 2 already leads.
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, z(1, 5), 1);
        net.start(2, z(1, 5), 1);
        net.run_until(300);
        net.assert_leader(&[1, 2], 2);
        net.start(3, z(1, 5), 1);
        net.run_until(10_000);
        net.assert_leader(&[1, 2, 3], 2);
    }

    #[test]
    fn worse_votes_during_the_finalize_wait_restart_it() {
        let mut fle = Fle::new(2, [1, 2, 3].into(), FleConfig::default());
        fle.start(0, z(1, 5), 1);
        let outs = fle.on_notification(
            10,
            Notification {
                sender: 3,
                state: PeerState::Looking,
                vote: v(2, z(1, 5), 1),
            },
        );
        assert_eq!(
            outs,
            vec![FleOutput::SetTimer { at_ms: 210 }],
            "quorum {{2,3}}: finalize wait"
        );
        let worse = Notification {
            sender: 1,
            state: PeerState::Looking,
            vote: v(1, z(1, 5), 1),
        };
        assert_eq!(
            fle.on_notification(150, worse),
            vec![FleOutput::SetTimer { at_ms: 350 }]
        );
        assert!(fle.on_timer(210).is_empty(), "stale timer");
        let outs = fle.on_timer(350);
        let [FleOutput::Decided(d)] = outs.as_slice() else {
            panic!("{outs:?}")
        };
        assert_eq!((d.leader, d.role, d.took_ms), (2, PeerState::Leading, 350));
        // The dropped worse vote was not recorded.
        assert_eq!(d.votes, vec![(2, 2), (3, 2)]);
    }

    #[test]
    fn higher_round_adopts_round_and_best_of_theirs_and_my_initial_vote() {
        let mut fle = Fle::new(2, [1, 2, 3, 4, 5].into(), FleConfig::default());
        fle.start(0, z(1, 5), 1);
        // Same round: adopt 3's better vote (2 of 5 agree: no quorum yet).
        fle.on_notification(
            1,
            Notification {
                sender: 3,
                state: PeerState::Looking,
                vote: v(3, z(1, 5), 1),
            },
        );
        assert_eq!(fle.proposal().leader, 3);
        // Round 4 from 1 with a worse vote: back to my initial vote (not 3), round 4, broadcast.
        let n = Notification {
            sender: 1,
            state: PeerState::Looking,
            vote: Vote {
                round: 4,
                ..v(1, z(1, 5), 1)
            },
        };
        let outs = fle.on_notification(2, n);
        let mine = Vote {
            leader: 2,
            zxid: z(1, 5),
            round: 4,
            peer_epoch: 1,
        };
        let sent: Vec<(Sid, Vote)> = outs
            .iter()
            .filter_map(|o| match o {
                FleOutput::Send { to, n } => Some((*to, n.vote)),
                _ => None,
            })
            .collect();
        assert_eq!(sent, vec![(1, mine), (3, mine), (4, mine), (5, mine)]);
        assert_eq!(fle.round(), 4);
        // A lower-round LOOKING peer is answered with my vote and round, and otherwise ignored.
        let old = Notification {
            sender: 3,
            state: PeerState::Looking,
            vote: v(3, z(9, 9), 9),
        };
        let outs = fle.on_notification(3, old);
        assert!(outs.contains(&FleOutput::Send {
            to: 3,
            n: Notification {
                sender: 2,
                state: PeerState::Looking,
                vote: mine
            }
        }));
        assert_eq!(fle.proposal(), mine);
    }

    #[test]
    fn zxid_minus_one_rules() {
        // Server 1 has an untrusted empty database: it ignores LOOKING votes and its own vote
        // (zxid -1) is ignored by the others, so 1 + 2 alone never decide.
        let mut net = Net::new(3, FleConfig::default());
        net.start(1, Zxid::NONE, 0);
        net.start(2, z(1, 5), 1);
        net.run_until(5_000);
        assert!(net.decided.is_empty());
        assert!(net.fles[&1].is_looking() && net.fles[&2].is_looking());
        // With 3 up, 2 and 3 elect 3 and server 1 joins the established ensemble.
        net.start(3, z(1, 5), 1);
        net.run_until(200_000);
        net.assert_leader(&[1, 2, 3], 3);
    }

    #[test]
    fn observers_and_non_voters() {
        let mut fle = Fle::new(1, [1, 2, 3].into(), FleConfig::default());
        fle.start(0, z(1, 5), 1);
        // A non-voter gets my vote back and is otherwise ignored.
        let outs = fle.on_notification(
            1,
            Notification {
                sender: 9,
                state: PeerState::Looking,
                vote: v(9, z(9, 9), 9),
            },
        );
        assert!(matches!(outs.as_slice(), [FleOutput::Send { to: 9, n }] if n.vote.leader == 1));
        // OBSERVING senders and votes for non-voters are ignored.
        fle.on_notification(
            2,
            Notification {
                sender: 2,
                state: PeerState::Observing,
                vote: v(3, z(9, 9), 9),
            },
        );
        fle.on_notification(
            3,
            Notification {
                sender: 2,
                state: PeerState::Looking,
                vote: v(9, z(9, 9), 9),
            },
        );
        assert_eq!(fle.proposal().leader, 1);
        assert!(fle.is_looking());
    }

    #[test]
    fn off_by_one_quorum_lets_a_lone_server_lead() {
        let voters: BTreeSet<Sid> = [1, 2, 3].into();
        let mut fle = Fle::with_quorum(
            1,
            Majority::new(voters).with_off_by_one(true),
            FleConfig::default(),
        );
        let outs = fle.start(0, z(1, 5), 1);
        assert_eq!(outs.last(), Some(&FleOutput::SetTimer { at_ms: 200 }));
        let outs = fle.on_timer(200);
        assert!(
            matches!(outs.as_slice(), [FleOutput::Decided(d)] if d.role == PeerState::Leading && d.votes == vec![(1, 1)])
        );
    }

    #[test]
    fn flag_975_restarted_server_leads_beside_the_leader() {
        for (flag, leader_of_3) in [(false, 2), (true, 3)] {
            let config = FleConfig {
                decide_when_all_voted: flag,
                ..FleConfig::default()
            };
            let mut net = Net::new(3, config);
            net.start(1, z(1, 5), 1);
            net.start(2, z(1, 5), 1);
            net.run_until(10_000);
            net.assert_leader(&[1, 2], 2);
            net.start(3, z(1, 5), 1);
            net.run_until(20_000);
            assert_eq!(net.decided[&3].leader, leader_of_3, "flag {flag}");
        }
    }

    #[test]
    fn flag_1732_strict_out_of_election_match_blocks_rejoin() {
        // The ensemble's votes for leader 3 differ in zxid (e.g. one server rewrote its vote
        // after sync); 3.8 matches leader + epoch only.
        for (strict, joins) in [(false, true), (true, false)] {
            let config = FleConfig {
                out_of_election_strict_match: strict,
                ..FleConfig::default()
            };
            let mut fle = Fle::new(1, [1, 2, 3].into(), config);
            fle.start(0, z(1, 5), 1);
            let f = Notification {
                sender: 2,
                state: PeerState::Following,
                vote: Vote {
                    round: 4,
                    ..v(3, z(1, 5), 2)
                },
            };
            let l = Notification {
                sender: 3,
                state: PeerState::Leading,
                vote: Vote {
                    round: 4,
                    ..v(3, z(1, 6), 2)
                },
            };
            assert!(fle
                .on_notification(1, f)
                .iter()
                .all(|o| !matches!(o, FleOutput::Decided(_))));
            let outs = fle.on_notification(2, l);
            let decided = outs
                .iter()
                .any(|o| matches!(o, FleOutput::Decided(d) if d.leader == 3));
            assert_eq!(decided, joins, "strict {strict}");
        }
    }

    #[test]
    fn follower_needs_the_leaders_own_leading_notification() {
        let mut fle = Fle::new(1, [1, 2, 3].into(), FleConfig::default());
        fle.start(0, z(1, 5), 1);
        let f = |sender| Notification {
            sender,
            state: PeerState::Following,
            vote: v(3, z(1, 5), 1),
        };
        // Two FOLLOWING votes for 3 are a quorum but 3 never said LEADING.
        fle.on_notification(1, f(2));
        let outs = fle.on_notification(2, f(3));
        assert!(outs.iter().all(|o| !matches!(o, FleOutput::Decided(_))));
        assert!(fle.is_looking());
    }
}
