//! How the duration flags are written: `500ms`, `2s`, `1m`, `12h` or a bare
//! number of seconds, fractions allowed (`1.5s`), up to [`MAX_DURATION`].

use std::time::Duration;

use super::ConfigError;

/// The longest duration any flag takes: 400 days, what browsers keep a
/// cookie at most (so also `--session-ttl`'s limit). Longer ones are refused
/// rather than overflowing a clock later.
pub const MAX_DURATION: Duration = Duration::from_secs(400 * 24 * 3600);

/// Parses `500ms`, `2s`, `1m`, `12h` or a bare number of seconds, up to
/// [`MAX_DURATION`]; the value parser of every duration flag.
pub(super) fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number.parse().map_err(|_| ConfigError::NotADuration(s.to_owned()))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(ConfigError::DurationUnit(s.to_owned())),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(ConfigError::DurationNotPositive(s.to_owned()));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(ConfigError::DurationTooLong(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::Cli;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s").ok(), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m").ok(), Some(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("12h").ok(), Some(Duration::from_secs(43_200)));
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("9600h").ok(), Some(MAX_DURATION));
        for huge in ["9601h", "99999999999999999999999h", "1e400", "18446744073709551616"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert!(Cli::try_parse_from(["leasehold", "serve", "--session-ttl", "99999999999999999999h"]).is_err());
    }

    #[test]
    fn each_wrong_duration_says_what_is_wrong() {
        assert_eq!(parse_duration(" 1.5s ").ok(), Some(Duration::from_millis(1500)));
        assert!(matches!(parse_duration("soon"), Err(ConfigError::NotADuration(_))));
        assert!(matches!(parse_duration("2d"), Err(ConfigError::DurationUnit(_))));
        assert!(matches!(parse_duration("0"), Err(ConfigError::DurationNotPositive(_))));
        let Err(too_long) = parse_duration("9601h") else {
            panic!("9601h is refused")
        };
        assert_eq!(too_long.to_string(), r#""9601h" is too long: at most 400 days (9600h)"#);
    }
}
