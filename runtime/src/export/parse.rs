//! Durations and probabilities as Dapple's environment variables and the
//! collector's flags and query parameters write them: `1.5ms`, `2s`,
//! `250us`, `3m`, `1h`, `7d`; `0.25`. (humantime has no fractions, which
//! `min_duration=1.5ms` needs.)

use std::time::Duration;

/// Parses a probability, from 0 to 1.
///
/// ```
/// assert_eq!(dapple::export::parse_probability("0.25"), Ok(0.25));
/// assert!(dapple::export::parse_probability("1.5").is_err());
/// ```
pub fn parse_probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability from 0 to 1")),
    }
}

/// Parses a number followed by a unit: `ns`, `us` (or `µs`), `ms`, `s`,
/// `m`, `h`, `d`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(dapple::export::parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 1.5ms, 2s, 1h"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use ns, us, ms, s, m, h or d"
            ));
        }
    };
    let nanos = number * nanos_per_unit;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fractions_parse() {
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("12").unwrap_err().contains("no unit"));
        assert!(parse_duration("ms").unwrap_err().contains("number"));
        assert!(
            parse_duration("3 weeks")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("1e999s").is_err());
    }
}
