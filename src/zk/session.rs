//! The leader's session tracker (`SessionTrackerImpl` + `ExpiryQueue`), sans-IO: time
//! comes in as `now_ms`, expiry is polled by the host at [`SessionTracker::next_expiry`].
//!
//! Sessions live in expiry buckets of width tickTime: a touch at `now` moves a session to
//! the bucket ending at `(⌊(now + timeout) / tick⌋ + 1) × tick`, so a silent session
//! expires after more than its timeout and at most timeout + tickTime. Expiry marks the
//! session *closing* (touches and requests then fail) and the host submits closeSession.

use super::ids::{SessionId, Sid};
use super::types::ErrorCode;
use std::collections::{BTreeMap, BTreeSet};

/// Clamps a client's requested timeout into [min, max] (`processConnectRequest`: first
/// raised to min, then lowered to max).
pub fn negotiate(requested_ms: i64, min_ms: i64, max_ms: i64) -> i64 {
    let t = if requested_ms < min_ms {
        min_ms
    } else {
        requested_ms
    };
    if t > max_ms {
        max_ms
    } else {
        t
    }
}

/// `ExpiryQueue.roundToNextInterval`: the end of the bucket holding `time_ms`.
pub fn bucket_deadline(time_ms: i64, tick_ms: i64) -> i64 {
    (time_ms.div_euclid(tick_ms) + 1) * tick_ms
}

/// `SessionTrackerImpl.initializeNextSessionId`: top byte = `sid`, then the low 40 bits of
/// `now_ms` shifted left by 16, low 16 bits zero. (Skips `i64::MIN`, the container
/// marker, like the real server.)
pub fn initial_session_id(sid: Sid, now_ms: i64) -> SessionId {
    let time_part = ((now_ms << 24) as u64 >> 8) as i64;
    let id = time_part | ((sid as i64) << 56);
    if id == i64::MIN {
        id + 1
    } else {
        id
    }
}

/// The session password (`ZooKeeperServer.generatePasswd`): 16 bytes of
/// `java.util.Random(id ^ 0xB3415C00).nextBytes`, so any server can validate a reconnect.
pub fn session_password(session: SessionId) -> [u8; 16] {
    const SUPER_SECRET: i64 = 0xB341_5C00;
    let mut seed = ((session ^ SUPER_SECRET) ^ 0x5_DEEC_E66D) & ((1 << 48) - 1);
    let mut next_int = || {
        seed = (seed.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (seed >> 16) as i32
    };
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        let mut rnd = next_int();
        for b in chunk {
            *b = rnd as u8;
            rnd >>= 8;
        }
    }
    out
}

/// One tracked session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedSession {
    /// Negotiated timeout.
    pub timeout_ms: i64,
    /// End of its current bucket.
    pub deadline_ms: i64,
    /// Expired or closing: touches fail, requests get SessionExpired.
    pub closing: bool,
    /// The server whose client connection owns it (requests from another: SessionMoved).
    pub owner: Option<Sid>,
}

/// A session's move into a new expiry bucket, as the tracker made it: the input (a touch,
/// or the start of tracking, at `touch_ms`) and the deadline it chose. The leader records
/// each as [`crate::history::ZkEvent::SessionDeadline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineMove {
    /// The session moved.
    pub session: SessionId,
    /// Its negotiated timeout.
    pub timeout_ms: i64,
    /// When the touch (or the start of tracking) happened, by this tracker's clock.
    pub touch_ms: i64,
    /// The end of its new bucket.
    pub deadline_ms: i64,
}

/// The leader's session tracker.
///
/// Guarantees: [`SessionTracker::expire`] returns each session at most once (it is then
/// closing, in no bucket); a session's deadline is always a multiple of tickTime and
/// lies in (last touch + timeout, last touch + timeout + tickTime].
#[derive(Clone, Debug)]
pub struct SessionTracker {
    tick_ms: i64,
    sessions: BTreeMap<SessionId, TrackedSession>,
    buckets: BTreeMap<i64, BTreeSet<SessionId>>,
    next_session_id: SessionId,
    /// Bucket moves since the last [`SessionTracker::take_moves`], oldest first.
    moves: Vec<DeadlineMove>,
    /// Test-only mutation of the bucket arithmetic: deadlines are rounded *down* to a tick
    /// (`⌊(now + timeout) / tick⌋ × tick`), so a silent session can expire before its
    /// timeout. Off everywhere but the tests that show `zk.sessions.expiry-bounds` firing.
    pub mutation_deadline_rounded_down: bool,
}

impl SessionTracker {
    /// An empty tracker on server `sid` started at `now_ms` (seeds session ids).
    /// Panics if `tick_ms <= 0` (config parsing rejects it).
    pub fn new(sid: Sid, tick_ms: i64, now_ms: i64) -> SessionTracker {
        assert!(tick_ms > 0, "tickTime must be positive, got {tick_ms}");
        SessionTracker {
            tick_ms,
            sessions: BTreeMap::new(),
            buckets: BTreeMap::new(),
            next_session_id: initial_session_id(sid, now_ms),
            moves: Vec::new(),
            mutation_deadline_rounded_down: false,
        }
    }

    /// A new leader's tracker: tracks **every** session of the replicated table with
    /// deadline from `now_ms` (sessions survive leader changes if clients reconnect).
    pub fn for_new_leader(
        sid: Sid,
        tick_ms: i64,
        now_ms: i64,
        table: &BTreeMap<SessionId, i64>,
    ) -> SessionTracker {
        let mut t = SessionTracker::new(sid, tick_ms, now_ms);
        for (&session, &timeout_ms) in table {
            t.add(session, timeout_ms, now_ms);
        }
        t
    }

    /// A fresh session id for a new connection (+1 per session).
    pub fn next_session_id(&mut self) -> SessionId {
        let id = self.next_session_id;
        self.next_session_id = self.next_session_id.wrapping_add(1);
        id
    }

    /// Starts tracking (`trackSession`, at createSession prep). Re-adding a known session
    /// only touches it.
    pub fn add(&mut self, session: SessionId, timeout_ms: i64, now_ms: i64) {
        self.sessions.entry(session).or_insert(TrackedSession {
            timeout_ms,
            deadline_ms: 0,
            closing: false,
            owner: None,
        });
        self.rebucket(session, now_ms);
    }

    /// Client activity (`touchSession`): re-buckets from `now_ms`. False, changing
    /// nothing, for an unknown or closing session.
    pub fn touch(&mut self, session: SessionId, now_ms: i64) -> bool {
        match self.sessions.get(&session) {
            Some(s) if !s.closing => {
                self.rebucket(session, now_ms);
                true
            }
            _ => false,
        }
    }

    fn rebucket(&mut self, session: SessionId, now_ms: i64) {
        let s = self
            .sessions
            .get_mut(&session)
            .expect("rebucket of a tracked session");
        let deadline = if self.mutation_deadline_rounded_down {
            bucket_deadline(now_ms + s.timeout_ms, self.tick_ms) - self.tick_ms
        } else {
            bucket_deadline(now_ms + s.timeout_ms, self.tick_ms)
        };
        if deadline == s.deadline_ms {
            return;
        }
        self.moves.push(DeadlineMove {
            session,
            timeout_ms: s.timeout_ms,
            touch_ms: now_ms,
            deadline_ms: deadline,
        });
        if let Some(b) = self.buckets.get_mut(&s.deadline_ms) {
            b.remove(&session);
            if b.is_empty() {
                self.buckets.remove(&s.deadline_ms);
            }
        }
        s.deadline_ms = deadline;
        self.buckets.entry(deadline).or_default().insert(session);
    }

    /// The bucket moves made since the last call, oldest first (the leader records them).
    pub fn take_moves(&mut self) -> Vec<DeadlineMove> {
        std::mem::take(&mut self.moves)
    }

    /// When the host must call [`SessionTracker::expire`] next: the earliest non-empty
    /// bucket's deadline.
    pub fn next_expiry(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    /// Sessions whose bucket ended at or before `now_ms`, in id order, now marked closing.
    /// The host submits a closeSession for each.
    pub fn expire(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut out = Vec::new();
        while let Some((&deadline, _)) = self.buckets.iter().next() {
            if deadline > now_ms {
                break;
            }
            let sessions = self.buckets.remove(&deadline).expect("bucket exists");
            for id in sessions {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.closing = true;
                }
                out.push(id);
            }
        }
        out
    }

    /// Marks a session closing (a client's closeSession was prepared). It leaves its
    /// bucket; it stays known until [`SessionTracker::remove`].
    pub fn set_closing(&mut self, session: SessionId) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.closing = true;
            if let Some(b) = self.buckets.get_mut(&s.deadline_ms) {
                b.remove(&session);
                if b.is_empty() {
                    self.buckets.remove(&s.deadline_ms);
                }
            }
        }
    }

    /// Forgets a session (its closeSession was applied).
    pub fn remove(&mut self, session: SessionId) {
        self.set_closing(session);
        self.sessions.remove(&session);
    }

    /// Re-buckets every non-closing session from `now_ms`.
    pub fn renew_all(&mut self, now_ms: i64) {
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.closing)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.rebucket(id, now_ms);
        }
    }

    /// `checkSession` for a request arriving through server `owner`: UnknownSession,
    /// SessionExpired (closing), SessionMoved (owned elsewhere); the first check claims
    /// an unowned session.
    pub fn check_session(&mut self, session: SessionId, owner: Sid) -> Result<(), ErrorCode> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(ErrorCode::UnknownSession)?;
        if s.closing {
            return Err(ErrorCode::SessionExpired);
        }
        match s.owner {
            None => s.owner = Some(owner),
            Some(o) if o != owner => return Err(ErrorCode::SessionMoved),
            Some(_) => {}
        }
        Ok(())
    }

    /// `setOwner`: the client reconnected through `owner` (fails for unknown or closing).
    pub fn set_owner(&mut self, session: SessionId, owner: Sid) -> Result<(), ErrorCode> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(ErrorCode::SessionExpired)?;
        if s.closing {
            return Err(ErrorCode::SessionExpired);
        }
        s.owner = Some(owner);
        Ok(())
    }

    /// The tracked session, if any.
    pub fn get(&self, session: SessionId) -> Option<&TrackedSession> {
        self.sessions.get(&session)
    }

    /// Number of tracked sessions (closing included).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True if no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// tickTime (bucket width).
    pub fn tick_ms(&self) -> i64 {
        self.tick_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_clamps_into_range() {
        let table = [
            (1000, 4000, 40000, 4000),
            (30000, 4000, 40000, 30000),
            (90000, 4000, 40000, 40000),
            (5000, 6000, 3000, 3000),
        ];
        for (req, min, max, want) in table {
            assert_eq!(negotiate(req, min, max), want, "{req} in [{min}, {max}]");
        }
    }

    #[test]
    fn bucket_deadlines() {
        // (now + t, tick) -> deadline = (floor((now+t)/tick) + 1) * tick
        let table = [
            (0, 2000, 2000),
            (1999, 2000, 2000),
            (2000, 2000, 4000),
            (31_500, 2000, 32_000),
            (32_000, 2000, 34_000),
        ];
        for (t, tick, want) in table {
            assert_eq!(bucket_deadline(t, tick), want, "{t} / {tick}");
        }
    }

    #[test]
    fn session_ids() {
        let id = initial_session_id(1, 0x12_3456_789a);
        assert_eq!(id, 0x0112_3456_789a_0000);
        // Only the low 40 bits of the time survive.
        assert_eq!(
            initial_session_id(3, 0x7f12_3456_789a),
            0x0312_3456_789a_0000
        );
        let mut t = SessionTracker::new(2, 2000, 5);
        assert_eq!(t.next_session_id(), 0x0200_0000_0005_0000);
        assert_eq!(t.next_session_id(), 0x0200_0000_0005_0001);
        assert!(
            initial_session_id(255, 1) < 0,
            "sid 255 sets the sign bit, as in Java"
        );
    }

    #[test]
    fn password_is_deterministic_per_session() {
        assert_eq!(session_password(7), session_password(7));
        assert_ne!(session_password(7), session_password(8));
        // id ^ secret == 0 seeds java.util.Random(0), whose first nextInt() is the
        // well-known -1155484576; nextBytes takes its bytes low first.
        let p = session_password(0xB341_5C00); // id ^ secret == 0: Random(0)
        assert_eq!(i32::from_le_bytes([p[0], p[1], p[2], p[3]]), -1155484576);
    }

    #[test]
    fn silent_session_expires_between_t_and_t_plus_tick() {
        let mut t = SessionTracker::new(1, 2000, 0);
        t.add(10, 5000, 100); // deadline = (5100/2000 + 1) * 2000 = 6000
        assert_eq!(t.next_expiry(), Some(6000));
        assert_eq!(t.expire(5999), Vec::<SessionId>::new());
        assert!(t.touch(10, 1500)); // 6500 -> 8000
        assert_eq!(t.next_expiry(), Some(8000));
        assert_eq!(t.expire(6000), Vec::<SessionId>::new());
        assert_eq!(t.expire(8000), vec![10]);
        assert!(t.get(10).is_some_and(|s| s.closing));
        assert!(!t.touch(10, 8001), "closing sessions cannot be touched");
        assert_eq!(t.check_session(10, 1), Err(ErrorCode::SessionExpired));
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.expire(100_000), Vec::<SessionId>::new(), "expired once");
        t.remove(10);
        assert!(!t.touch(10, 9000));
        assert_eq!(t.check_session(10, 1), Err(ErrorCode::UnknownSession));
    }

    #[test]
    fn expiry_returns_all_due_buckets_in_id_order() {
        let mut t = SessionTracker::new(1, 1000, 0);
        t.add(3, 2000, 0); // 3000
        t.add(1, 2000, 500); // 3000
        t.add(2, 4000, 0); // 5000
        t.add(4, 9000, 0); // 10000
        assert_eq!(t.expire(5000), vec![1, 3, 2]);
        assert_eq!(t.next_expiry(), Some(10_000));
        t.set_closing(4);
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn new_leader_renews_every_session() {
        let table: BTreeMap<SessionId, i64> = [(1, 4000), (2, 10_000)].into_iter().collect();
        let mut t = SessionTracker::for_new_leader(3, 2000, 50_000, &table);
        assert_eq!(t.get(1).map(|s| s.deadline_ms), Some(56_000));
        assert_eq!(t.get(2).map(|s| s.deadline_ms), Some(62_000));
        t.renew_all(60_000);
        assert_eq!(t.get(1).map(|s| s.deadline_ms), Some(66_000));
    }

    #[test]
    fn owners() {
        let mut t = SessionTracker::new(1, 2000, 0);
        t.add(1, 4000, 0);
        assert_eq!(t.check_session(1, 2), Ok(()));
        assert_eq!(t.check_session(1, 3), Err(ErrorCode::SessionMoved));
        assert_eq!(t.set_owner(1, 3), Ok(()));
        assert_eq!(t.check_session(1, 3), Ok(()));
    }
}
