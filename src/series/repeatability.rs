//! Measured repeatability of each metric: how far it moves between two photos of an unchanged
//! area (new pose, lighting, white balance, noise, JPEG). Changes within it are noise, not
//! treatment effect. The figures come from `examples/repeatability.rs` (README
//! "Repeatability"); rerun it and update them when the model or a stage changes.

use crate::report::NoiseFloor;

/// Per metric: (name, floor, relative). Relative floors are in % of the reference value;
/// absolute ones in the metric's unit.
pub const NOISE_FLOORS: &[(&str, f64, bool)] = &[];

/// The noise floor of a metric, if measured.
pub fn noise_floor(metric: &str) -> Option<NoiseFloor> {
    NOISE_FLOORS
        .iter()
        .find(|(name, _, _)| *name == metric)
        .map(|&(_, value, relative)| NoiseFloor { value, relative })
}
