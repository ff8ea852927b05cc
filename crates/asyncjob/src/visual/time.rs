//! Times as text: RFC 3339 instants (UTC, microseconds), human-readable durations, and the
//! exact decimal numbers the trace and the Gantt chart are written with.
//!
//! No time-zone database and no date crate: the civil date of a day number is computed with
//! Howard Hinnant's `civil_from_days` algorithm, valid for every date `SystemTime` can hold.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i128 = 1_000_000;
const SECS_PER_DAY: i128 = 86_400;

/// `time` as an RFC 3339 timestamp in UTC with microseconds, e.g.
/// `2022-12-12T20:00:32.254054Z`. Sub-microsecond digits are truncated; instants before 1970 are
/// handled too.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let micros: i128 = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_micros()).unwrap_or(i128::MAX),
        // Round towards the past: -0.5 µs is 1969-12-31T23:59:59.999999Z.
        Err(before) => {
            let d = before.duration();
            let whole = i128::try_from(d.as_micros()).unwrap_or(i128::MAX);
            let partial = i128::from(d.subsec_nanos() % 1_000 != 0);
            -(whole + partial)
        }
    };
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let micro = micros.rem_euclid(MICROS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let second_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micro:06}Z")
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// A duration for people: `850ns`, `13.207µs`, `4.250ms`, `2.001s` (three decimals, truncated,
/// of the largest unit that fits).
pub(crate) fn human(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{}.{:03}µs", nanos / 1_000, nanos % 1_000)
    } else if nanos < 1_000_000_000 {
        format!("{}.{:03}ms", nanos / 1_000_000, nanos % 1_000_000 / 1_000)
    } else {
        format!("{}.{:03}s", duration.as_secs(), duration.subsec_millis())
    }
}

/// The duration in microseconds as an exact JSON number with three decimals (nanosecond
/// resolution), e.g. `1234.567`.
pub(crate) fn micros_decimal(out: &mut String, duration: Duration) {
    let nanos = duration.as_nanos();
    let _ = write!(out, "{}.{:03}", nanos / 1_000, nanos % 1_000);
}

/// The duration in whole milliseconds, rounded to the nearest.
pub(crate) fn millis_rounded(duration: Duration) -> u128 {
    (duration.as_nanos() + 500_000) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(1_670_875_232, 254_054_999)),
            "2022-12-12T20:00:32.254054Z"
        );
        // A leap day, and the last microsecond of a leap year.
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(1_704_067_199, 999_999_000)),
            "2023-12-31T23:59:59.999999Z"
        );
        assert_eq!(rfc3339(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(253_402_300_799, 0)),
            "9999-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn rfc3339_before_the_epoch() {
        let before = |d: Duration| UNIX_EPOCH.checked_sub(d).expect("representable");
        assert_eq!(
            rfc3339(before(Duration::from_nanos(500))),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            rfc3339(before(Duration::from_secs(86_400 * 365))),
            "1969-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(before(Duration::from_secs(2_208_988_800))),
            "1900-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn civil_from_days_round_trips_every_day_of_four_centuries() {
        // Days from civil, the other way, for checking.
        fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y.rem_euclid(400);
            let mp = (m + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            era * 146_097 + doe - 719_468
        }
        let mut previous = civil_from_days(-146_098);
        for days in -146_097..146_097 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((y, m, d) > previous);
            previous = (y, m, d);
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::ZERO), "0ns");
        assert_eq!(human(Duration::from_nanos(999)), "999ns");
        assert_eq!(human(Duration::from_nanos(13_207)), "13.207µs");
        assert_eq!(human(Duration::from_micros(4_250)), "4.250ms");
        assert_eq!(human(Duration::from_millis(2_001)), "2.001s");
        assert_eq!(human(Duration::from_secs(3_600)), "3600.000s");
    }

    #[test]
    fn exact_numbers() {
        let mut out = String::new();
        micros_decimal(&mut out, Duration::from_nanos(1_234_567));
        assert_eq!(out, "1234.567");
        assert_eq!(millis_rounded(Duration::from_micros(1_499)), 1);
        assert_eq!(millis_rounded(Duration::from_micros(1_500)), 2);
    }
}
