//! Durations as people write them in scenario files: `"10s"`, `"250ms"`, `"1m"`,
//! `"1m30s"`, `"500us"`; signed (`"-2s"`) for clock offsets.

use std::time::Duration;

const UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `"10s"`, `"250ms"`, `"1m30s"` (units: h, m, s, ms, us, ns; whole numbers).
/// The error is a sentence for the user, e.g. `"3x" is not a duration (try "3s" or "250ms")`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (try \"3s\" or \"250ms\")");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, ns) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
        total = n
            .checked_mul(*ns)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total))
}

/// Parses a duration that may start with `-` (clock offsets), into signed milliseconds.
/// Sub-millisecond parts are not allowed.
pub fn parse_signed_duration(text: &str) -> Result<i64, String> {
    let s = text.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let d = parse_duration(body)
        .map_err(|_| format!("{text:?} is not a duration (try \"-2s\" or \"500ms\")"))?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("{text:?}: clock offsets are whole milliseconds"));
    }
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long"))?;
    Ok(if neg { -ms } else { ms })
}

/// The longest fsync latency a scenario may give a disk: slower than that is a hung disk,
/// not a slow one.
pub const FSYNC_LATENCY_MAX: Duration = Duration::from_secs(10);

/// Parses an fsync latency: `"20ms"` (always that long) or `"10ms..30ms"` (a uniform draw
/// per fsync), at most [`FSYNC_LATENCY_MAX`]. Returns `(min, max)`; the error is a sentence
/// for the user.
pub fn parse_fsync_latency(s: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => {
            let parse = |x: &str| {
                parse_duration(x.trim()).map_err(|m| {
                    format!("{s:?}: {m} (a range is \"MIN..MAX\", e.g. \"10ms..30ms\")")
                })
            };
            (parse(a)?, parse(b)?)
        }
        None => {
            let d = parse_duration(s).map_err(|m| {
                format!("{m} (fsync_latency is a duration \"20ms\" or a range \"10ms..30ms\")")
            })?;
            (d, d)
        }
    };
    if lo > hi {
        return Err(format!(
            "{s:?}: MIN..MAX with MIN {} above MAX {}",
            format_duration(lo),
            format_duration(hi)
        ));
    }
    if hi > FSYNC_LATENCY_MAX {
        return Err(format!(
            "{s:?}: at most {}",
            format_duration(FSYNC_LATENCY_MAX)
        ));
    }
    Ok((lo, hi))
}

/// Formats a duration in the largest unit that divides it exactly: `"1m"`, `"90s"`,
/// `"250ms"`. [`parse_duration`] reads it back to the same value.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    for (unit, per) in UNITS.iter().rev() {
        let per = u128::from(*per);
        if ns.is_multiple_of(per) {
            return format!("{}{unit}", ns / per);
        }
    }
    unreachable!("every duration is a whole number of nanoseconds")
}

/// Formats signed milliseconds, e.g. `"-2s"`; [`parse_signed_duration`] reads it back.
pub fn format_signed_ms(ms: i64) -> String {
    let d = format_duration(Duration::from_millis(ms.unsigned_abs()));
    if ms < 0 {
        format!("-{d}")
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_write() {
        let table = [
            ("10s", Duration::from_secs(10)),
            ("250ms", Duration::from_millis(250)),
            ("1m", Duration::from_secs(60)),
            ("1m30s", Duration::from_secs(90)),
            ("500us", Duration::from_micros(500)),
            ("2h", Duration::from_secs(7200)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_with_a_hint() {
        for text in [
            "3x",
            "",
            "s",
            "10",
            "1.5s",
            "-1s",
            "10 s",
            "99999999999999999999s",
        ] {
            let e = parse_duration(text).expect_err(text);
            assert!(
                e.contains("is not a duration") || e.contains("too long"),
                "{text}: {e}"
            );
        }
        assert_eq!(
            parse_duration("3x").unwrap_err(),
            "\"3x\" is not a duration (try \"3s\" or \"250ms\")"
        );
    }

    #[test]
    fn format_round_trips() {
        for ms in [0u64, 1, 250, 1000, 1500, 60_000, 90_000, 3_600_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        for ms in [-2000i64, 0, 1500, -1] {
            assert_eq!(parse_signed_duration(&format_signed_ms(ms)), Ok(ms));
        }
    }
}
