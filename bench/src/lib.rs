//! What the bench commands share.

/// The nearest-rank percentile `p` (0 to 100) of ascending `sorted` values;
/// 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A process's CPU time so far, user and system, in seconds (`/proc/<pid>/stat`,
/// fields 14 and 15, in Linux's fixed 100 ticks per second).
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&stat)
}

fn parse_cpu_seconds(stat: &str) -> Option<(f64, f64)> {
    // The command name may hold spaces and parentheses: count fields after
    // its last ')', where field 3 (the state) comes first.
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace().skip(14 - 3);
    let user: f64 = rest.next()?.parse().ok()?;
    let system: f64 = rest.next()?.parse().ok()?;
    Some((user / 100.0, system / 100.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_seconds_from_stat() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 5 0 0";
        assert_eq!(super::parse_cpu_seconds(stat), Some((2.5, 0.37)));
        assert_eq!(super::parse_cpu_seconds("42 (x) S 1"), None);
        let own = super::cpu_seconds(std::process::id()).expect("own stat");
        assert!(own.0 >= 0.0 && own.1 >= 0.0);
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 50.0), 50.0);
        assert_eq!(super::percentile(&v, 99.0), 99.0);
        assert_eq!(super::percentile(&v, 100.0), 100.0);
        assert_eq!(super::percentile(&[], 99.0), 0.0);
    }
}
