//! Measured repeatability of each metric: how far it moves between two photos of an unchanged
//! area (new pose, lighting, white balance, noise, JPEG). Changes within it are noise, not
//! treatment effect. The figures come from `examples/repeatability.rs` (README
//! "Repeatability"); rerun it and update them when the model or a stage changes.

use crate::report::NoiseFloor;

/// Per metric: (name, floor, relative). Relative floors are in % of the reference value;
/// absolute ones in the metric's unit (for metrics whose baseline can be near zero, or that
/// are angles or colour coordinates).
///
/// 95th percentile of |change| over 12 synthetic re-captures and 30 real photos warped and
/// relit (examples/repeatability.rs, 2026-11-27, model skinseg 1.0.0). Real photos dominate:
/// the synthetic-trained model is far less stable on real skin (scar area 24 % there against
/// 2.4 % on synthetic skin), and clinics photograph real skin. The same quantity in other
/// units shares its floor (mm² and % of region; mm/cm² and px/MP).
pub const NOISE_FLOORS: &[(&str, f64, bool)] = &[
    ("line_area_pct", 56.0, true),
    ("line_length_mm_per_cm2", 65.1, true),
    ("line_length_px_per_mp", 65.1, true),
    ("line_count", 100.0, true),
    ("scar_area_pct", 23.6, true),
    ("scar_area_mm2", 23.6, true),
    ("scar_count", 80.0, true),
    ("roughness", 7.1, true),
    ("redness_a", 0.36, false),
    ("redness_area_pct", 0.60, false),
    ("ita_deg", 9.4, false),
];

/// The noise floor of a metric, if measured.
pub fn noise_floor(metric: &str) -> Option<NoiseFloor> {
    NOISE_FLOORS
        .iter()
        .find(|(name, _, _)| *name == metric)
        .map(|&(_, value, relative)| NoiseFloor { value, relative })
}
