//! Measured repeatability of each metric: how far it moves between two photos of an unchanged
//! area (new pose, lighting, white balance, noise, JPEG). Changes within it are noise, not
//! treatment effect. The figures come from `examples/repeatability.rs` (README
//! "Repeatability"); rerun it and update them when the model or a stage changes.

use crate::report::NoiseFloor;

/// Per metric: (name, relative part in % of the reference, absolute part in the metric's
/// unit), fitted by `examples/repeatability.rs` as the floor |change| ≤ absolute + relative ×
/// |reference| that holds for 95 % of its unchanged pairs and is lowest at their median
/// reference. Angles and colour coordinates have an absolute part only. Metrics in physical
/// units take their scale-free twin's floor ([`noise_floor`]).
///
/// From 24 synthetic series (48 re-captures) and 180 real photos warped and relit
/// (`-- 24 80`, 2026-11-27, model skinseg 2.0.0, later sessions segmented under the baseline's
/// light; scar metrics from the 25 scar close-ups, line metrics from the 80 wrinkled faces, skin
/// metrics from all). Real photos dominate: the model finds little of real scars and wrinkles,
/// so what it finds moves a lot between two views, and clinics photograph real skin.
pub const NOISE_FLOORS: &[(&str, f64, f64)] = &[
    ("line_area_pct", 19.6, 0.0714),
    ("line_length_px_per_mp", 18.5, 549.7),
    ("line_count", 6.3, 1.0),
    ("scar_area_pct", 0.0, 0.376),
    ("scar_count", 22.2, 1.56),
    ("roughness", 3.5, 0.0145),
    ("redness_a", 0.0, 1.03),
    ("redness_area_pct", 0.0, 0.97),
    ("ita_deg", 0.0, 1.05),
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
