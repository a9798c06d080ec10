//! Summaries of repeated measurements: min, median, p95 (nearest rank), max, mean.

use serde::{Deserialize, Serialize};

/// The summary of one figure's samples, as the JSON report and the tables show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Unit of every number here: `ms`, `MiB/s` or `bytes`.
    pub unit: String,
    /// How many samples were taken.
    pub runs: usize,
    pub min: f64,
    /// Middle sample (mean of the two middle ones for an even count).
    pub median: f64,
    /// 95th percentile by nearest rank: the smallest sample with at least 95% of samples at or
    /// below it.
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
    /// Every sample, in the order taken.
    pub samples: Vec<f64>,
}

impl Summary {
    /// Summarize `samples` (at least one). Returns `None` for an empty list.
    pub fn of(unit: &str, samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        // Nearest rank: ceil(0.95 n), 1-based.
        let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
        Some(Summary {
            unit: unit.to_string(),
            runs: n,
            min: sorted[0],
            median,
            p95: sorted[rank - 1],
            max: sorted[n - 1],
            mean: sorted.iter().sum::<f64>() / n as f64,
            samples: samples.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count() {
        let s = Summary::of("ms", &[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.p95, s.max), (1.0, 3.0, 5.0, 5.0));
        assert_eq!(s.samples, vec![5.0, 1.0, 3.0]);
        assert_eq!(s.runs, 3);
    }

    #[test]
    fn even_count_and_p95_rank() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Summary::of("ms", &samples).unwrap();
        assert_eq!(s.median, 10.5);
        assert_eq!(s.p95, 19.0);
        assert_eq!(s.mean, 10.5);
    }

    #[test]
    fn p95_is_never_below_median() {
        for n in 1..40 {
            let samples: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64).collect();
            let s = Summary::of("ms", &samples).unwrap();
            assert!(
                s.min <= s.median && s.median <= s.p95 && s.p95 <= s.max,
                "n={n}: {s:?}"
            );
        }
    }

    #[test]
    fn empty_has_no_summary() {
        assert!(Summary::of("ms", &[]).is_none());
    }
}
