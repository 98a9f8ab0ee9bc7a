//! ZooKeeper's client-visible vocabulary: error codes, create modes, the Stat, and the
//! client-side path validation (`PathUtils.validatePath`) with its exact messages.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node's Stat as clients see it (the shared history type; one definition only).
pub use crate::history::ZkStat as Stat;

/// `KeeperException.Code`: every code a 3.8 server or client can report.
///
/// Guarantees: `ErrorCode::from_code(c.code()) == Some(c)` for every variant, and
/// [`ErrorCode::name`] is the Java enum's camel-case name (`NoNode`), as shown in histories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// 0: success (also the result of a multi op before the failing one).
    Ok,
    /// −1
    SystemError,
    /// −2: a multi op after the failing one.
    RuntimeInconsistency,
    /// −3
    DataInconsistency,
    /// −4: the client lost its connection; the outcome of an in-flight write is unknown.
    ConnectionLoss,
    /// −5
    MarshallingError,
    /// −6
    Unimplemented,
    /// −7
    OperationTimeout,
    /// −8: bad path, or deleting a built-in node.
    BadArguments,
    /// −12: the leader does not know the session.
    UnknownSession,
    /// −13
    NewConfigNoQuorum,
    /// −14
    ReconfigInProgress,
    /// −100: base of the API errors (never returned itself).
    ApiError,
    /// −101
    NoNode,
    /// −102
    NoAuth,
    /// −103
    BadVersion,
    /// −108
    NoChildrenForEphemerals,
    /// −110
    NodeExists,
    /// −111
    NotEmpty,
    /// −112
    SessionExpired,
    /// −113
    InvalidCallback,
    /// −114
    InvalidAcl,
    /// −115
    AuthFailed,
    /// −118: the session is owned by another server.
    SessionMoved,
    /// −119: a write or sync sent to a read-only server.
    NotReadOnly,
    /// −120
    EphemeralOnLocalSession,
    /// −121
    NoWatcher,
    /// −122
    RequestTimeout,
    /// −123
    ReconfigDisabled,
}

/// Every variant, in code order (0 first).
const ALL_CODES: [ErrorCode; 29] = [
    ErrorCode::Ok,
    ErrorCode::SystemError,
    ErrorCode::RuntimeInconsistency,
    ErrorCode::DataInconsistency,
    ErrorCode::ConnectionLoss,
    ErrorCode::MarshallingError,
    ErrorCode::Unimplemented,
    ErrorCode::OperationTimeout,
    ErrorCode::BadArguments,
    ErrorCode::UnknownSession,
    ErrorCode::NewConfigNoQuorum,
    ErrorCode::ReconfigInProgress,
    ErrorCode::ApiError,
    ErrorCode::NoNode,
    ErrorCode::NoAuth,
    ErrorCode::BadVersion,
    ErrorCode::NoChildrenForEphemerals,
    ErrorCode::NodeExists,
    ErrorCode::NotEmpty,
    ErrorCode::SessionExpired,
    ErrorCode::InvalidCallback,
    ErrorCode::InvalidAcl,
    ErrorCode::AuthFailed,
    ErrorCode::SessionMoved,
    ErrorCode::NotReadOnly,
    ErrorCode::EphemeralOnLocalSession,
    ErrorCode::NoWatcher,
    ErrorCode::RequestTimeout,
    ErrorCode::ReconfigDisabled,
];

impl ErrorCode {
    /// Every code, in code order (0 first).
    pub fn all() -> &'static [ErrorCode] {
        &ALL_CODES
    }

    /// The wire value (`KeeperException.Code.intValue()`).
    pub fn code(self) -> i32 {
        use ErrorCode::*;
        match self {
            Ok => 0,
            SystemError => -1,
            RuntimeInconsistency => -2,
            DataInconsistency => -3,
            ConnectionLoss => -4,
            MarshallingError => -5,
            Unimplemented => -6,
            OperationTimeout => -7,
            BadArguments => -8,
            UnknownSession => -12,
            NewConfigNoQuorum => -13,
            ReconfigInProgress => -14,
            ApiError => -100,
            NoNode => -101,
            NoAuth => -102,
            BadVersion => -103,
            NoChildrenForEphemerals => -108,
            NodeExists => -110,
            NotEmpty => -111,
            SessionExpired => -112,
            InvalidCallback => -113,
            InvalidAcl => -114,
            AuthFailed => -115,
            SessionMoved => -118,
            NotReadOnly => -119,
            EphemeralOnLocalSession => -120,
            NoWatcher => -121,
            RequestTimeout => -122,
            ReconfigDisabled => -123,
        }
    }

    /// The code for a wire value, `None` for values 3.8 does not define.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ALL_CODES.iter().copied().find(|c| c.code() == code)
    }

    /// Camel-case name (`NoNode`, `NotEmpty`, `SessionExpired`): stable, used in histories.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Ok => "OK",
            SystemError => "SystemError",
            RuntimeInconsistency => "RuntimeInconsistency",
            DataInconsistency => "DataInconsistency",
            ConnectionLoss => "ConnectionLoss",
            MarshallingError => "MarshallingError",
            Unimplemented => "Unimplemented",
            OperationTimeout => "OperationTimeout",
            BadArguments => "BadArguments",
            UnknownSession => "UnknownSession",
            NewConfigNoQuorum => "NewConfigNoQuorum",
            ReconfigInProgress => "ReconfigInProgress",
            ApiError => "APIError",
            NoNode => "NoNode",
            NoAuth => "NoAuth",
            BadVersion => "BadVersion",
            NoChildrenForEphemerals => "NoChildrenForEphemerals",
            NodeExists => "NodeExists",
            NotEmpty => "NotEmpty",
            SessionExpired => "SessionExpired",
            InvalidCallback => "InvalidCallback",
            InvalidAcl => "InvalidACL",
            AuthFailed => "AuthFailed",
            SessionMoved => "SessionMoved",
            NotReadOnly => "NotReadOnly",
            EphemeralOnLocalSession => "EphemeralOnLocalSession",
            NoWatcher => "NoWatcher",
            RequestTimeout => "RequestTimeout",
            ReconfigDisabled => "ReconfigDisabled",
        }
    }

    /// `KeeperException.getCodeMessage`: the text after `KeeperErrorCode = ` in Java's
    /// exception messages (`Directory not empty`, `Session expired`, `ConnectionLoss`).
    pub fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Ok => "ok",
            NotEmpty => "Directory not empty",
            SessionExpired => "Session expired",
            InvalidCallback => "Invalid callback",
            SessionMoved => "Session moved",
            NotReadOnly => "Not a read-only call",
            EphemeralOnLocalSession => "Ephemeral node on local session",
            NoWatcher => "No such watcher",
            RequestTimeout => "Request timeout",
            ReconfigDisabled => "Reconfig is disabled",
            UnknownSession => "Unknown session",
            other => other.name(),
        }
    }

    /// True for [`ErrorCode::Ok`].
    pub fn is_ok(self) -> bool {
        self == ErrorCode::Ok
    }
}

impl fmt::Display for ErrorCode {
    /// The camel-case name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How `create` makes a node: ephemeral (deleted with its session) and/or sequential
/// (a 10-digit suffix from the parent's child-create counter). Not ephemeral = persistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateMode {
    /// Deleted when the creating session closes or expires.
    pub ephemeral: bool,
    /// The server appends `%010d` of the parent's stored child-create counter.
    pub sequential: bool,
}

impl CreateMode {
    /// `PERSISTENT`
    pub const PERSISTENT: CreateMode = CreateMode {
        ephemeral: false,
        sequential: false,
    };
    /// `PERSISTENT_SEQUENTIAL`
    pub const PERSISTENT_SEQUENTIAL: CreateMode = CreateMode {
        ephemeral: false,
        sequential: true,
    };
    /// `EPHEMERAL`
    pub const EPHEMERAL: CreateMode = CreateMode {
        ephemeral: true,
        sequential: false,
    };
    /// `EPHEMERAL_SEQUENTIAL`
    pub const EPHEMERAL_SEQUENTIAL: CreateMode = CreateMode {
        ephemeral: true,
        sequential: true,
    };

    /// True unless ephemeral.
    pub fn is_persistent(self) -> bool {
        !self.ephemeral
    }
}

/// Client-side path validation (`PathUtils.validatePath(path, isSequential)`), with the
/// exact message Java throws (zkCli prints it verbatim).
///
/// A sequential path is validated with `1` appended, so `/a/` is legal for a sequential
/// create, and a failing message quotes the path with that `1`. Indices count UTF-16 code
/// units, as Java's do; characters outside the BMP are surrogates, hence invalid.
/// (`Path cannot be null` cannot arise: a `&str` is never null.)
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if sequential {
        return validate_path_str(&format!("{path}1"));
    }
    validate_path_str(path)
}

fn validate_path_str(path: &str) -> Result<(), String> {
    let chars: Vec<u16> = path.encode_utf16().collect();
    if chars.is_empty() {
        return Err("Path length must be > 0".to_string());
    }
    if chars[0] != u16::from(b'/') {
        return Err("Path must start with / character".to_string());
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == u16::from(b'/') {
        return Err("Path must not end with / character".to_string());
    }
    let slash = u16::from(b'/');
    let dot = u16::from(b'.');
    let ends_component = |i: usize| i + 1 == chars.len() || chars[i + 1] == slash;
    let mut reason = None;
    let mut lastc = slash;
    for i in 1..chars.len() {
        let c = chars[i];
        if c == 0 {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == slash && lastc == slash {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == dot && lastc == dot {
            if chars[i - 2] == slash && ends_component(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == dot {
            if chars[i - 1] == slash && ends_component(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if (0x0001..=0x001f).contains(&c)
            || (0x007f..=0x009f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
        lastc = c;
    }
    match reason {
        Some(r) => Err(format!("Invalid path string \"{path}\" caused by {r}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_reference_table() {
        let table = [
            (0, "OK"),
            (-1, "SystemError"),
            (-2, "RuntimeInconsistency"),
            (-4, "ConnectionLoss"),
            (-5, "MarshallingError"),
            (-6, "Unimplemented"),
            (-7, "OperationTimeout"),
            (-8, "BadArguments"),
            (-12, "UnknownSession"),
            (-13, "NewConfigNoQuorum"),
            (-14, "ReconfigInProgress"),
            (-101, "NoNode"),
            (-102, "NoAuth"),
            (-103, "BadVersion"),
            (-108, "NoChildrenForEphemerals"),
            (-110, "NodeExists"),
            (-111, "NotEmpty"),
            (-112, "SessionExpired"),
            (-114, "InvalidACL"),
            (-118, "SessionMoved"),
            (-119, "NotReadOnly"),
        ];
        for (code, name) in table {
            let c = ErrorCode::from_code(code).unwrap_or_else(|| panic!("code {code} missing"));
            assert_eq!((c.code(), c.name()), (code, name));
        }
        for c in ErrorCode::all() {
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
        }
        assert_eq!(ErrorCode::from_code(-9), None);
        assert_eq!(ErrorCode::NotEmpty.message(), "Directory not empty");
        assert_eq!(ErrorCode::ConnectionLoss.message(), "ConnectionLoss");
    }

    #[test]
    fn path_validation_messages() {
        let table: &[(&str, bool, Result<(), &str>)] = &[
            ("/", false, Ok(())),
            ("/a/b", false, Ok(())),
            ("/a/", true, Ok(())),
            ("/a/", false, Err("Path must not end with / character")),
            ("", false, Err("Path length must be > 0")),
            ("a", false, Err("Path must start with / character")),
            (
                "//a",
                false,
                Err("Invalid path string \"//a\" caused by empty node name specified @1"),
            ),
            (
                "/a//b",
                false,
                Err("Invalid path string \"/a//b\" caused by empty node name specified @3"),
            ),
            (
                "/a/.",
                false,
                Err("Invalid path string \"/a/.\" caused by relative paths not allowed @3"),
            ),
            (
                "/a/../b",
                false,
                Err("Invalid path string \"/a/../b\" caused by relative paths not allowed @4"),
            ),
            ("/a/.b", false, Ok(())),
            ("/a/..b", false, Ok(())),
            (
                "/a\u{0}b",
                false,
                Err("Invalid path string \"/a\u{0}b\" caused by null character not allowed @2"),
            ),
            (
                "/a\u{1}",
                false,
                Err("Invalid path string \"/a\u{1}\" caused by invalid character @2"),
            ),
            (
                "/\u{9f}",
                false,
                Err("Invalid path string \"/\u{9f}\" caused by invalid character @1"),
            ),
            (
                "/\u{fff0}",
                false,
                Err("Invalid path string \"/\u{fff0}\" caused by invalid character @1"),
            ),
            (
                "/x\u{1F600}",
                false,
                Err("Invalid path string \"/x\u{1F600}\" caused by invalid character @2"),
            ),
            ("/é", false, Ok(())),
            ("/a/.", true, Ok(())),
            (
                "/a//",
                true,
                Err("Invalid path string \"/a//1\" caused by empty node name specified @3"),
            ),
        ];
        for (path, seq, want) in table {
            let got = validate_path(path, *seq);
            assert_eq!(
                got.as_ref().map(|_| ()).map_err(String::as_str),
                want.as_ref().map(|_| ()).map_err(|e| *e),
                "{path:?}"
            );
        }
    }
}
