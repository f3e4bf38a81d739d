//! Wall-clock formatting shared by the page and the Alertmanager pushes: UTC
//! RFC 3339 timestamps and short ages (`3h12m`). Start at [`rfc3339`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 for times before it), as metrics carry them.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `2026-12-05T12:11:56.250Z`: UTC, milliseconds, what Alertmanager's API reads.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}Z", utc_seconds(d.as_secs()), d.subsec_millis())
}

/// `2026-12-05 12:11:56 UTC`: what a person reads on the page.
pub fn display(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{} UTC", utc_seconds(secs).replace('T', " "))
}

/// `YYYY-MM-DDTHH:MM:SS` of seconds since the epoch (Howard Hinnant's `civil_from_days`).
fn utc_seconds(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `45s`, `12m5s`, `3h12m`, `2d4h`: the two largest units, as `kubectl get` prints ages.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match () {
        _ if days > 0 => format!("{days}d{hours}h"),
        _ if hours > 0 => format!("{hours}h{mins}m"),
        _ if mins > 0 => format!("{mins}m{secs}s"),
        _ => format!("{secs}s"),
    }
}

/// How long before `now` the time `then` was (zero when `then` is in the future).
pub fn since(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1716193800` = Mon May 20 08:30:00 UTC 2024 (a leap year, after February).
        assert_eq!(rfc3339(at(1_716_193_800, 250)), "2024-05-20T08:30:00.250Z");
        assert_eq!(display(at(951_782_400, 0)), "2000-02-29 00:00:00 UTC");
        assert_eq!(display(at(4_102_444_799, 0)), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn ages_use_two_units() {
        assert_eq!(age(Duration::from_secs(45)), "45s");
        assert_eq!(age(Duration::from_secs(12 * 60 + 5)), "12m5s");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 12 * 60 + 59)), "3h12m");
        assert_eq!(age(Duration::from_secs(2 * 86_400 + 4 * 3600 + 1)), "2d4h");
        assert_eq!(since(at(10, 0), at(5, 0)), Duration::ZERO);
    }
}
