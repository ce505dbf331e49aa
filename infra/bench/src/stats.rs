//! Summary statistics of samples (nearest-rank percentiles) and ratios against a baseline.

use std::time::Duration;

/// The `p`-th percentile (0 < p ≤ 100) by the nearest-rank method: the smallest sample such that
/// at least `p` % of the samples are ≤ it. `None` for no samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median: the mean of the two middle samples for an even count.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// `value / baseline`, `None` when the baseline is not positive.
pub fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0).then(|| value / baseline)
}

/// Milliseconds of a duration, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p99 and the count of a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub count: usize,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        Some(Summary {
            p50: percentile(samples, 50.0)?,
            p99: percentile(samples, 99.0)?,
            count: samples.len(),
        })
    }
}

/// `12.34` style, or `–` when absent.
pub fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) => format!("{v:.decimals$}"),
        None => "–".to_string(),
    }
}

/// `× 1.23` style ratio.
pub fn fmt_ratio(value: Option<f64>) -> String {
    match value {
        Some(v) => format!("×{v:.2}"),
        None => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50.0));
        assert_eq!(percentile(&samples, 99.0), Some(99.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
        assert_eq!(percentile(&samples, 0.5), Some(1.0));
        // Order does not matter.
        let shuffled = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&shuffled, 50.0), Some(3.0));
        assert_eq!(percentile(&shuffled, 99.0), Some(5.0));
        assert_eq!(percentile(&shuffled, 20.0), Some(1.0));
        assert_eq!(percentile(&shuffled, 21.0), Some(2.0));
    }

    #[test]
    fn percentiles_of_nothing_or_nonsense() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 0.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
        assert_eq!(percentile(&[f64::NAN], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratios_need_a_positive_baseline() {
        assert_eq!(ratio(15.0, 3.0), Some(5.0));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(fmt_ratio(ratio(3.0, 2.0)), "×1.50");
        assert_eq!(fmt_opt(None, 1), "–");
        assert_eq!(fmt_opt(Some(1.25), 1), "1.2");
    }

    #[test]
    fn summaries() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.p50, s.p99, s.count), (2.0, 4.0, 4));
        assert!(Summary::of(&[]).is_none());
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
