//! What the bench commands share.

pub mod chromium;

/// The nearest-rank percentile `p` (0 to 100) of ascending `sorted` values;
/// 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Numeric fields of a process's `/proc/<pid>/stat`, by their 1-based
/// numbers in `man 5 proc` (3 or above: the state and after).
pub fn proc_stat_fields<const N: usize>(pid: u32, numbers: [usize; N]) -> Option<[f64; N]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat, numbers)
}

fn stat_fields<const N: usize>(stat: &str, numbers: [usize; N]) -> Option<[f64; N]> {
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its last ')', where field 3 comes first.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let mut values = [0.0; N];
    for (value, number) in values.iter_mut().zip(numbers) {
        *value = rest.get(number.checked_sub(3)?)?.parse().ok()?;
    }
    Some(values)
}

/// A process's CPU time so far, user and system, in seconds (fields 14 and
/// 15, in Linux's fixed 100 ticks per second).
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let [user, system] = proc_stat_fields(pid, [14, 15])?;
    Some((user / 100.0, system / 100.0))
}

/// The handlers on `store` with the system clock, OS randomness and fixed
/// secrets: what the bench commands that drive `App` directly run.
pub fn bench_app(
    store: livecard_store::dynamo::DynamoStore,
    config: livecard_app::Config,
) -> livecard_app::App<livecard_store::dynamo::DynamoStore> {
    let secrets = livecard_app::Secrets {
        cards: livecard_core::card::Keyring::new("k1", vec![("k1".into(), vec![1; 32])])
            .expect("keyring"),
        session_key: vec![2; 32],
        visitor_key: vec![3; 32],
        presence_webhook_key: vec![4; 32],
        turn_secret: None,
        teams_push: None,
        turn_provider: None,
        identity_image_key: None,
        admin_key_sha256: None,
    };
    livecard_app::App::new(
        store,
        std::sync::Arc::new(livecard_app::system::SystemClock),
        std::sync::Arc::new(livecard_app::system::OsRandom),
        config,
        secrets,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_seconds_from_stat() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 5 0 0";
        assert_eq!(
            super::stat_fields(stat, [10, 14, 15]),
            Some([100.0, 250.0, 37.0])
        );
        assert_eq!(super::stat_fields("42 (x) S 1", [14]), None);
        assert_eq!(super::stat_fields(stat, [2]), None);
        // This process's own CPU time grows while it works (ticks are 10
        // ms): spin until it has grown by 50 ms, for at most 5 s of wall
        // time (a loaded machine gives fewer cycles); a reading of the
        // wrong fields would not grow.
        let pid = std::process::id();
        let before = super::cpu_seconds(pid).expect("own stat");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after.0 + after.1 < before.0 + before.1 + 0.05
            && started.elapsed() < std::time::Duration::from_secs(5)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            after = super::cpu_seconds(pid).expect("own stat");
        }
        assert!(
            after.0 + after.1 >= before.0 + before.1 + 0.05,
            "CPU time did not grow: {before:?} then {after:?}"
        );
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
