//! Measured repeatability of each metric: how far it moves between two photos of an unchanged
//! area (new pose, lighting, white balance, noise, JPEG). Changes within it are noise, not
//! treatment effect. The figures come from `examples/repeatability.rs` (README
//! "Repeatability"); rerun it and update them when the model or a stage changes.

use crate::report::NoiseFloor;

/// Per metric: (name, relative part in % of the reference, absolute part in the metric's
/// unit), fitted by `examples/repeatability.rs` as the floor |change| ≤ absolute + relative ×
/// |reference| that holds for 95 % of the synthetic unchanged pairs and for 95 % of the real
/// ones ([`fit_noise_floor`]) and is lowest at their mean reference. Angles and colour
/// coordinates have an absolute part only. Metrics in physical units take their scale-free
/// twin's floor ([`noise_floor`]).
///
/// From 64 synthetic series (128 re-captures) and 185 real photos each captured twice, both
/// photos through their own view, light and noise (`-- 64 80`, 2026-11-30, model skinseg 2.1.0
/// (backdrops as non-skin, non-skin offset −0.5) with scar hysteresis 3.0 and line bridging
/// 5.0, Lanczos3 below a working factor of 1.5, later sessions segmented under the baseline's
/// light, logits interpolated and photos warped with Catmull-Rom weights; every metric of every
/// real photo). The real photos set most floors: the model finds little of real scars and
/// wrinkles, so what it finds moves a lot between two views, and clinics photograph real
/// skin. Fitted on all pairs pooled (until 2026-11-30), scar area's floor (0.171 pp + 2.4 %)
/// left 44 % of the real pairs outside it. Each value is the fit's, rounded up.
pub const NOISE_FLOORS: &[(&str, f64, f64)] = &[
    ("line_area_pct", 0.0, 0.0825),
    ("line_length_px_per_mp", 16.8, 253.5),
    ("line_count", 16.6, 1.004),
    ("scar_area_pct", 0.0, 0.854),
    ("scar_count", 0.0, 3.0),
    ("roughness", 3.23, 0.0130),
    ("redness_a", 0.0, 0.829),
    ("redness_area_pct", 0.0, 1.883),
    ("ita_deg", 0.0, 2.381),
];

/// The noise floor of a metric, if measured. A metric in physical units is the same quantity
/// as a scale-free twin, so it has the twin's noise: its relative part, and its absolute part
/// converted with the series' scale `px_per_mm` and the region's size `region_px`
/// (scar mm² = % / 100 × region px / (px/mm)²; line mm/cm² = px/MP × px/mm / 10⁴).
pub fn noise_floor(metric: &str, px_per_mm: Option<f64>, region_px: u64) -> Option<NoiseFloor> {
    let measured = |name: &str| {
        NOISE_FLOORS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, relative_pct, absolute)| NoiseFloor {
                relative_pct,
                absolute,
            })
    };
    let (twin, per_twin_unit) = match (metric, px_per_mm) {
        ("scar_area_mm2", Some(s)) => ("scar_area_pct", region_px as f64 / (100.0 * s * s)),
        ("line_length_mm_per_cm2", Some(s)) => ("line_length_px_per_mp", s / 1e4),
        _ => return measured(metric),
    };
    measured(twin).map(|f| NoiseFloor {
        absolute: f.absolute * per_twin_unit,
        ..f
    })
}

/// 95th percentile of `values` (nearest rank); `None` when there are none.
pub fn p95(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (0.95 * (values.len() - 1) as f64).round() as usize;
    Some(values[rank])
}

/// Fits a noise floor to the changes of unchanged skin, given per source (synthetic series,
/// real photos) as pairs of (|change|, |reference|): it holds for 95 % of **each** source's
/// pairs, and of such floors it is the one narrowest on average over all their references
/// (lowest at their mean reference).
/// Each source must be covered on its own because the sources differ: pooled, the steady
/// synthetic pairs let scar area's floor leave 44 % of the real ones outside it, and every one
/// of those is an unchanged photo that a report would call improved or worsened. Not lowest at
/// the median reference: the sources' references lie apart (synthetic scar area ~3.4 %, real
/// ~0.3 %) and their median falls between them, where no photo is.
/// For each relative part on a grid from 0 up to the widest source's 95th-percentile relative
/// change, the absolute part is what every source's 95 % then need. With `relative` false the
/// floor is absolute only (angles, colour coordinates). `None` without pairs.
pub fn fit_noise_floor(sources: &[&[(f64, f64)]], relative: bool) -> Option<NoiseFloor> {
    let sources: Vec<&[(f64, f64)]> = sources.iter().copied().filter(|s| !s.is_empty()).collect();
    // The absolute part every source needs once `relative` × reference is allowed.
    let absolute_for = |relative: f64| {
        sources
            .iter()
            .filter_map(|pairs| {
                p95(pairs
                    .iter()
                    .map(|(d, r)| (d - relative * r).max(0.0))
                    .collect())
            })
            .reduce(f64::max)
    };
    let mut best = NoiseFloor {
        relative_pct: 0.0,
        absolute: absolute_for(0.0)?,
    };
    if !relative {
        return Some(best);
    }
    let references: Vec<f64> = sources
        .iter()
        .flat_map(|s| s.iter().map(|(_, r)| *r))
        .collect();
    let mean_reference = references.iter().sum::<f64>() / references.len() as f64;
    let widest = sources
        .iter()
        .filter_map(|pairs| {
            p95(pairs
                .iter()
                .filter(|(_, r)| *r > 0.0)
                .map(|(d, r)| d / r)
                .collect())
        })
        .fold(0.0, f64::max);
    for step in 1..=1000 {
        let relative = widest * step as f64 / 1000.0;
        let floor = NoiseFloor {
            relative_pct: 100.0 * relative,
            absolute: absolute_for(relative)?,
        };
        if floor.half_width(mean_reference) < best.half_width(mean_reference) {
            best = floor;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_read_in_their_own_unit_have_absolute_floors_only() {
        for &(name, relative_pct, absolute) in NOISE_FLOORS {
            // The fit may also find no relative part elsewhere (scar area); these never get one.
            if crate::report::ABSOLUTE_CHANGE_METRICS.contains(&name) {
                assert_eq!(relative_pct, 0.0, "{name}");
            }
            assert!(absolute > 0.0, "{name}");
        }
    }

    #[test]
    fn a_fitted_floor_finds_both_parts_of_a_known_noise() {
        // Every change is exactly 0.1 + 5 % of its reference (0 to 10): that line is the one
        // floor covering them all that is lowest at the mean reference.
        let pairs: Vec<(f64, f64)> = (0..=100)
            .map(|i| i as f64 / 10.0)
            .map(|r| (0.1 + 0.05 * r, r))
            .collect();
        let floor = fit_noise_floor(&[&pairs], true).unwrap();
        assert!((floor.relative_pct - 5.0).abs() < 0.2, "{floor:?}");
        assert!((floor.absolute - 0.1).abs() < 0.02, "{floor:?}");
    }

    #[test]
    fn a_fitted_floor_covers_95_percent_and_beats_an_absolute_one() {
        // Half the pairs have tiny references and changes up to 0.1 whatever is there; half
        // have references 5–10 and changes up to 5 % of them.
        let mut pairs = Vec::new();
        for i in 0..50 {
            let t = i as f64 / 49.0;
            pairs.push((0.1 * t, 0.1 * (1.0 - t)));
            let reference = 5.0 + 5.0 * t;
            pairs.push((0.05 * reference * ((i * 37 % 50) as f64 / 49.0), reference));
        }
        let floor = fit_noise_floor(&[&pairs], true).unwrap();
        let inside = pairs.iter().filter(|(d, r)| floor.contains(*d, *r)).count();
        assert!(inside >= 95, "{inside} of 100 pairs under {floor:?}");
        assert!(
            floor.relative_pct > 0.0 && floor.absolute > 0.0,
            "{floor:?}"
        );
        // An absolute floor alone is the changes' p95, and wider at the mean reference (~3.8).
        let absolute_only = fit_noise_floor(&[&pairs], false).unwrap();
        assert_eq!(absolute_only.relative_pct, 0.0);
        let changes = pairs.iter().map(|p| p.0).collect();
        assert_eq!(absolute_only.absolute, p95(changes).unwrap());
        assert!(
            floor.half_width(3.8) < 0.8 * absolute_only.half_width(3.8),
            "{floor:?} against {absolute_only:?}"
        );
        assert!(fit_noise_floor(&[], true).is_none());
        assert!(fit_noise_floor(&[&[]], true).is_none());
    }

    #[test]
    fn a_fitted_floor_covers_95_percent_of_each_source_not_just_of_all() {
        // 150 steady pairs (changes up to 0.1) and 50 noisy ones (changes up to 1), all with
        // reference 1. Pooled, the 95 % would leave ten of the noisy ones (a fifth) outside.
        let steady: Vec<(f64, f64)> = (0..150).map(|i| (0.1 * i as f64 / 149.0, 1.0)).collect();
        let noisy: Vec<(f64, f64)> = (0..50).map(|i| (i as f64 / 49.0, 1.0)).collect();
        let pooled: Vec<(f64, f64)> = steady.iter().chain(&noisy).copied().collect();
        let inside = |floor: &NoiseFloor, pairs: &[(f64, f64)]| {
            pairs.iter().filter(|(d, r)| floor.contains(*d, *r)).count()
        };
        let pooled_floor = fit_noise_floor(&[&pooled], false).unwrap();
        assert!(inside(&pooled_floor, &noisy) <= 41, "{pooled_floor:?}");
        for relative in [false, true] {
            let floor = fit_noise_floor(&[&steady, &noisy], relative).unwrap();
            assert!(inside(&floor, &noisy) >= 47, "{floor:?}");
            assert!(inside(&floor, &steady) >= 143, "{floor:?}");
        }
    }
}
