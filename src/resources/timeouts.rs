//! Durations of the `timeouts` block, in the Go syntax Terraform users write there ("60m", "1h30m", "90s").

use std::time::Duration;

/// Longest timeout accepted: a week. Beyond that a value is a typo, not a plan.
const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration: one or more `<number><unit>` pairs, units `h`, `m`, `s`, `ms`, fractions allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration: use a number and a unit (h, m, s), e.g. \"60m\" or \"1h30m\"")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let amount: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        total += amount * seconds;
        rest = next;
    }
    match Duration::try_from_secs_f64(total) {
        Ok(d) if d.is_zero() => Err(format!(
            "{text:?} is zero; give the operation some time, e.g. \"30m\""
        )),
        Ok(d) if d <= MAX => Ok(d),
        _ => Err(format!("{text:?} is longer than a week; use e.g. \"2h\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_durations() {
        assert_eq!(parse_duration("60m"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_what_is_not_a_sensible_duration_without_panicking() {
        for bad in [
            "",
            "60",
            "m",
            "5d",
            "1h30",
            "-5m",
            "0s",
            "1..5h",
            "9999999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
        let huge = format!("{}h", "9".repeat(400));
        assert!(parse_duration(&huge).is_err());
    }
}
