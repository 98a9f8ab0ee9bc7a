//! Identifiers shared by every ZooKeeper component: server ids, epochs, zxids, sessions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server id (`server.N` in zoo.cfg; `myid`).
pub type Sid = u64;

/// A ZAB epoch (the high 32 bits of a zxid).
pub type Epoch = u32;

/// A ZooKeeper transaction id: `epoch << 32 | counter`. Ordered as the number it is.
///
/// Counter 0 of an epoch names the NEWLEADER marker, never a transaction.
/// [`Zxid::NONE`] (-1) stands for "no zxid" (an empty, untrusted database).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Zxid(pub i64);

impl Zxid {
    /// No transaction at all (an empty log): zero, as the real server starts.
    pub const ZERO: Zxid = Zxid(0);
    /// "Unknown" marker used in votes from an untrusted database.
    pub const NONE: Zxid = Zxid(-1);

    /// Builds `epoch << 32 | counter`.
    pub const fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid(((epoch as i64) << 32) | counter as i64)
    }

    /// The epoch part.
    pub const fn epoch(self) -> Epoch {
        (self.0 >> 32) as Epoch
    }

    /// The counter part.
    pub const fn counter(self) -> u32 {
        (self.0 & 0xffff_ffff) as u32
    }

    /// True if this is `epoch << 32` (counter 0).
    pub const fn is_epoch_start(self) -> bool {
        self.counter() == 0
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Zxid {
    /// zkCli's form: `0x` and lowercase hex without padding (`0x100000003`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-0x{:x}", -self.0)
        } else {
            write!(f, "0x{:x}", self.0)
        }
    }
}

/// A session id (top byte: the sid of the server that created it).
pub type SessionId = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_parts() {
        let z = Zxid::new(3, 7);
        assert_eq!((z.epoch(), z.counter()), (3, 7));
        assert_eq!(z.to_string(), "0x300000007");
        assert!(Zxid::new(2, u32::MAX) < Zxid::new(3, 0));
        assert!(Zxid::new(5, 0).is_epoch_start());
        assert_eq!(Zxid::ZERO.to_string(), "0x0");
    }
}
