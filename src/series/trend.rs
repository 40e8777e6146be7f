//! Changes over a series: per metric the change against baseline and previous session, the
//! noise-floor marking, and a robust trend over time (Theil–Sen with Sen's interval).

use chrono::{Datelike, NaiveDate};

use crate::measure::{self, Metrics};
use crate::report::{MetricSeries, MetricValue, Trend};

use super::repeatability;

/// Per metric: its value at each session, the changes, their noise marking and the trend.
/// `dates[i]` is session i's capture date, if known; `px_per_mm` the series' scale. The trend
/// of a metric that reads focus ([`crate::measure::reads_focus`]: roughness, fine lines)
/// leaves out sessions whose focus differs from the baseline's
/// ([`crate::measure::focus_comparable`]): their value reads focus, not skin.
pub fn metric_series(
    metrics: &[Metrics],
    dates: &[Option<NaiveDate>],
    px_per_mm: Option<f64>,
) -> Vec<MetricSeries> {
    let region_px = metrics.first().map_or(0, |m| m.region_px);
    let named: Vec<Vec<(&'static str, f64, &'static str)>> =
        metrics.iter().map(Metrics::named).collect();
    let Some(first) = named.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|&(name, _, unit)| {
            let series: Vec<f64> = named
                .iter()
                .map(|m| {
                    m.iter()
                        .find(|(n, _, _)| *n == name)
                        .map_or(f64::NAN, |(_, v, _)| *v)
                })
                .collect();
            let floor = repeatability::noise_floor(name, px_per_mm, region_px);
            let trend_dates: Vec<Option<NaiveDate>> = if measure::reads_focus(name) {
                dates
                    .iter()
                    .zip(metrics)
                    .map(|(date, m)| date.filter(|_| sharp_as_baseline(m, &metrics[0])))
                    .collect()
            } else {
                dates.to_vec()
            };
            let base = series[0];
            let values = series
                .iter()
                .enumerate()
                .map(|(i, &value)| {
                    let prev = (i > 0).then(|| series[i - 1]);
                    let delta = value - base;
                    let delta_pct = pct(delta, base);
                    let delta_prev = prev.map(|p| value - p);
                    let delta_prev_pct = prev.and_then(|p| pct(value - p, p));
                    MetricValue {
                        session: i,
                        value,
                        delta,
                        delta_pct,
                        delta_prev,
                        delta_prev_pct,
                        within_noise: floor
                            .as_ref()
                            .filter(|_| i > 0)
                            .map(|f| f.contains(delta, base)),
                        within_noise_prev: floor
                            .as_ref()
                            .zip(prev)
                            .map(|(f, p)| f.contains(value - p, p)),
                    }
                })
                .collect();
            let trend = trend(&series, &trend_dates).map(|t| Trend {
                within_noise: floor
                    .as_ref()
                    .map(|f| f.contains(t.slope_per_30_days * t.span_days / 30.0, base)),
                ..t
            });
            MetricSeries {
                name: name.to_string(),
                unit: unit.to_string(),
                values,
                trend,
                noise_floor: floor,
                reads_focus: measure::reads_focus(name),
            }
        })
        .collect()
}

/// Whether redness is back within its noise floor of the baseline, per session (`None` for the
/// baseline and when redness has no floor).
pub fn redness_recovered(metrics: &[MetricSeries], session: usize) -> Option<bool> {
    (session > 0).then_some(())?;
    let redness = metrics.iter().find(|m| m.name == "redness_a")?;
    redness.values.get(session)?.within_noise
}

fn sharp_as_baseline(session: &Metrics, baseline: &Metrics) -> bool {
    measure::focus_comparable(measure::fine_detail_ratio(
        session.fine_detail,
        baseline.fine_detail,
    ))
}

fn pct(delta: f64, reference: f64) -> Option<f64> {
    (reference.abs() > 1e-12 && delta.is_finite()).then(|| delta / reference * 100.0)
}

/// Theil–Sen slope per 30 days over the dated sessions, with Sen's 95% interval; `None` with
/// fewer than 3 dated sessions or all on one day.
pub fn trend(values: &[f64], dates: &[Option<NaiveDate>]) -> Option<Trend> {
    let points: Vec<(f64, f64)> = values
        .iter()
        .zip(dates)
        .filter_map(|(&v, d)| Some((f64::from(d.as_ref()?.num_days_from_ce()), v)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let n = points.len();
    if n < 3 {
        return None;
    }
    let (first, last) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for (i, &(ti, yi)) in points.iter().enumerate() {
        for &(tj, yj) in &points[i + 1..] {
            if tj != ti {
                slopes.push((yj - yi) / (tj - ti) * 30.0);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let count = slopes.len();
    let median = if count % 2 == 1 {
        slopes[count / 2]
    } else {
        (slopes[count / 2 - 1] + slopes[count / 2]) / 2.0
    };
    // Sen (1968): the interval runs between the slopes of rank (N ∓ C)/2, with
    // C = z · √Var(S) and Var(S) = n(n−1)(2n+5)/18 (Kendall's S without ties).
    let nf = n as f64;
    let c = 1.96 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let lower_rank = ((count as f64 - c) / 2.0).floor();
    let upper_rank = ((count as f64 + c) / 2.0).ceil();
    let lower = if lower_rank >= 1.0 {
        slopes[lower_rank as usize - 1]
    } else {
        slopes[0]
    };
    let upper = if (upper_rank as usize) < count {
        slopes[upper_rank as usize]
    } else {
        slopes[count - 1]
    };
    Some(Trend {
        slope_per_30_days: median,
        ci95: [lower, upper],
        sessions: n,
        clear: lower > 0.0 || upper < 0.0,
        span_days: last - first,
        within_noise: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(offsets: &[i64]) -> Vec<Option<NaiveDate>> {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        offsets
            .iter()
            .map(|&d| Some(start + chrono::Duration::days(d)))
            .collect()
    }

    #[test]
    fn a_straight_line_gives_its_slope_and_a_tight_interval() {
        // 2 units per 30 days, sessions 6 weeks apart.
        let dates = days(&[0, 42, 84, 126, 168, 210]);
        let values: Vec<f64> = [0.0, 42.0, 84.0, 126.0, 168.0, 210.0]
            .iter()
            .map(|d| 10.0 - d / 30.0 * 2.0)
            .collect();
        let t = trend(&values, &dates).unwrap();
        assert!((t.slope_per_30_days + 2.0).abs() < 1e-9, "{t:?}");
        assert!((t.ci95[0] + 2.0).abs() < 1e-9 && (t.ci95[1] + 2.0).abs() < 1e-9);
        assert!(t.clear);
        assert_eq!(t.sessions, 6);
    }

    #[test]
    fn one_wild_session_does_not_move_the_robust_slope() {
        let dates = days(&[0, 30, 60, 90, 120, 150, 180]);
        let mut values: Vec<f64> = (0..7).map(|i| 5.0 + i as f64).collect();
        values[3] = 100.0;
        let t = trend(&values, &dates).unwrap();
        assert!((t.slope_per_30_days - 1.0).abs() < 1e-9, "{t:?}");
        assert!(t.ci95[0] <= 1.0 && t.ci95[1] >= 1.0);
    }

    #[test]
    fn noise_without_direction_is_not_a_clear_trend() {
        let dates = days(&[0, 40, 80, 120]);
        let t = trend(&[5.0, 5.2, 4.9, 5.1], &dates).unwrap();
        assert!(!t.clear, "{t:?}");
        assert!(t.ci95[0] < 0.0 && t.ci95[1] > 0.0);
    }

    /// A steady decline is a clear trend; it is within noise when the change it makes over the
    /// series is within the metric's noise floor at the baseline (as every session's change
    /// is), and beyond noise when it is not.
    #[test]
    fn a_clear_trend_smaller_than_the_noise_floor_is_within_noise() {
        let session = |line_length: f64| Metrics {
            region_px: 1_000_000,
            line_area_pct: 1.0,
            line_length,
            line_length_unit: "px/MP".into(),
            line_count: 3,
            scar_area_pct: 2.0,
            scar_area_mm2: None,
            scar_count: 2,
            roughness: 1.0,
            redness_a: 12.0,
            redness_area_pct: 5.0,
            ita_deg: 30.0,
            a_median: 12.0,
            fine_detail: 2.0,
        };
        let floor = repeatability::noise_floor("line_length_px_per_mp", None, 1_000_000)
            .expect("line density has a floor");
        let dates = days(&[0, 42, 84, 126]);
        let density_trend = |drop_per_session: f64| {
            let metrics: Vec<Metrics> = (0..4)
                .map(|i| session(5000.0 - drop_per_session * i as f64))
                .collect();
            metric_series(&metrics, &dates, None)
                .into_iter()
                .find(|m| m.name == "line_length_px_per_mp")
                .unwrap()
                .trend
                .unwrap()
        };
        // Over the series: 3 × drop against the floor at 5000 px/MP.
        let floor_at_baseline = floor.absolute + floor.relative_pct / 100.0 * 5000.0;
        let small = density_trend(floor_at_baseline / 6.0);
        assert!(small.clear, "{small:?}");
        assert_eq!(small.span_days, 126.0);
        assert_eq!(small.within_noise, Some(true));
        assert!(!small.clear_beyond_noise());
        let large = density_trend(floor_at_baseline / 2.0);
        assert!(large.clear && large.within_noise == Some(false));
        assert!(large.clear_beyond_noise());
    }

    #[test]
    fn too_few_dated_sessions_have_no_trend() {
        assert!(trend(&[1.0, 2.0], &days(&[0, 30])).is_none());
        let mut dates = days(&[0, 30, 60]);
        dates[1] = None;
        assert!(trend(&[1.0, 2.0, 3.0], &dates).is_none());
        assert!(trend(&[1.0, 2.0, 3.0], &days(&[5, 5, 5])).is_none());
    }

    /// A session photographed softer than the baseline (fine detail 0.6×) reads smoother: its
    /// roughness and fine lines stay in the table but not in their trends, while every
    /// other metric's trend keeps it.
    #[test]
    fn focus_sensitive_trends_leave_out_sessions_not_as_sharp_as_the_baseline() {
        let session = |roughness: f64, fine_detail: f64| Metrics {
            region_px: 1000,
            line_area_pct: roughness,
            line_length: 100.0,
            line_length_unit: "px/MP".into(),
            line_count: 3,
            scar_area_pct: roughness,
            scar_area_mm2: None,
            scar_count: 2,
            roughness,
            redness_a: 12.0,
            redness_area_pct: 5.0,
            ita_deg: 30.0,
            a_median: 12.0,
            fine_detail,
        };
        // Roughness rises 0.1 per 30 days; session 2, soft, reads far lower.
        let metrics = [
            session(1.0, 2.0),
            session(1.1, 2.0),
            session(0.5, 1.2),
            session(1.3, 1.9),
        ];
        let series = metric_series(&metrics, &days(&[0, 30, 60, 90]), None);
        let by_name = |name: &str| series.iter().find(|m| m.name == name).unwrap();
        let roughness = by_name("roughness");
        let t = roughness.trend.as_ref().unwrap();
        assert_eq!(t.sessions, 3);
        assert!((t.slope_per_30_days - 0.1).abs() < 1e-9, "{t:?}");
        assert_eq!(roughness.values[2].value, 0.5, "still reported");
        assert_eq!(by_name("line_area_pct").trend.as_ref().unwrap().sessions, 3);
        assert_eq!(by_name("scar_area_pct").trend.as_ref().unwrap().sessions, 4);
        assert_eq!(
            by_name("line_length_px_per_mp")
                .trend
                .as_ref()
                .unwrap()
                .sessions,
            3
        );
        assert_eq!(by_name("line_count").trend.as_ref().unwrap().sessions, 3);
    }

    use crate::report::NoiseFloor;

    #[test]
    fn noise_floors_have_a_relative_and_an_absolute_part() {
        let floor = NoiseFloor {
            relative_pct: 5.0,
            absolute: 0.2,
        };
        // From 10: up to 0.2 + 0.5 is noise; from 0 only the absolute part.
        assert!(floor.contains(-0.65, 10.0));
        assert!(!floor.contains(0.75, 10.0));
        assert!(floor.contains(0.15, 0.0));
        assert!(!floor.contains(0.25, 0.0));
        let angle = NoiseFloor {
            relative_pct: 0.0,
            absolute: 1.0,
        };
        assert!(angle.contains(-0.9, 40.0));
        assert!(!angle.contains(1.1, 0.5));
    }

    #[test]
    fn physical_units_take_their_scale_free_twins_floor() {
        let pct = repeatability::noise_floor("scar_area_pct", None, 0).unwrap();
        // 20 px/mm over 1 MP of region: 1 % of it is 10_000 px = 25 mm².
        let mm2 = repeatability::noise_floor("scar_area_mm2", Some(20.0), 1_000_000).unwrap();
        assert_eq!(mm2.relative_pct, pct.relative_pct);
        assert!((mm2.absolute - pct.absolute * 25.0).abs() < 1e-9);
        let px = repeatability::noise_floor("line_length_px_per_mp", None, 0).unwrap();
        // 10⁴ px/MP at 20 px/mm: 10⁴ px of line per 10⁶ px² = 500 mm per 2500 cm² = 20 mm/cm².
        let mm = repeatability::noise_floor("line_length_mm_per_cm2", Some(20.0), 1).unwrap();
        assert!((mm.absolute - px.absolute * 20.0 / 1e4).abs() < 1e-12);
        assert!(repeatability::noise_floor("scar_area_mm2", None, 1_000_000).is_none());
    }
}
