//! Human durations for the CLI and configuration: `90s`, `15m`, `12h`, `30d`.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected a whole number followed by s, m, h or d (for example 30d)"
)]
pub struct InvalidDuration(pub String);

/// Parses a duration into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, InvalidDuration> {
    let err = || InvalidDuration(text.chars().take(32).collect());
    let text = text.trim();
    let unit_at = text.len().checked_sub(1).ok_or_else(err)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| err())?;
    let unit_ms: u64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(err()),
    };
    number
        .checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
        .ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration_ms("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("15m"), Ok(900_000));
        for bad in ["", "d", "0d", "-1d", "3w", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} accepted");
        }
    }
}
