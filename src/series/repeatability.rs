//! Measured repeatability of each metric: how far it moves between two photos of an unchanged
//! area (new pose, lighting, white balance, noise, JPEG). Changes within it are noise, not
//! treatment effect. The figures come from `examples/repeatability.rs` (README
//! "Repeatability"); rerun it and update them when the model or a stage changes.

use crate::report::NoiseFloor;

/// Per metric: (name, floor, relative). Relative floors are in % of the reference value;
/// absolute ones in the metric's unit (for metrics whose baseline can be near zero, or that
/// are angles or colour coordinates).
///
/// 95th percentile of |change| over 24 synthetic series (48 re-captures) and 180 real photos
/// warped and relit (examples/repeatability.rs `-- 24 80`, 2026-11-27, model skinseg 2.0.0,
/// later sessions segmented under the baseline's light; scar metrics from the 25 scar
/// close-ups, line metrics from the 80 wrinkled faces, skin metrics from all). Real photos
/// dominate: the model finds little of real scars and wrinkles, so what it finds moves a lot
/// between two views (scar area 115 % there against 5.0 % on synthetic skin, fine-line density
/// 512 % against 2.4 %), and clinics photograph real skin. The same quantity in other units
/// shares its floor, the larger of the two (mm² and % of region; mm/cm² and px/MP).
pub const NOISE_FLOORS: &[(&str, f64, bool)] = &[
    ("line_area_pct", 400.0, true),
    ("line_length_mm_per_cm2", 512.1, true),
    ("line_length_px_per_mp", 512.1, true),
    ("line_count", 100.0, true),
    ("scar_area_pct", 55.9, true),
    ("scar_area_mm2", 55.9, true),
    ("scar_count", 52.9, true),
    ("roughness", 4.6, true),
    ("redness_a", 1.03, false),
    ("redness_area_pct", 0.97, false),
    ("ita_deg", 1.05, false),
];

/// The noise floor of a metric, if measured.
pub fn noise_floor(metric: &str) -> Option<NoiseFloor> {
    NOISE_FLOORS
        .iter()
        .find(|(name, _, _)| *name == metric)
        .map(|&(_, value, relative)| NoiseFloor { value, relative })
}
