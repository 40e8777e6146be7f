//! Scar regions that one session has and the other does not: where a change in scar area
//! comes from. A scar that fills in or shrinks changes area where both sessions see it; a
//! region seen in one session only is either a new (or healed) scar or the model calling a
//! patch of plain skin scar in one photo, which is what sets the tail of scar area's
//! repeatability (README "Repeatability"). The report names such regions so that the clinician
//! can check them in the overlays before trusting the change.

use imageproc::distance_transform::Norm;
use imageproc::region_labelling::{Connectivity, connected_components};
use serde::{Deserialize, Serialize};

use super::{MeasureOptions, usable_scale};
use crate::definitions::{CLASS_SCAR, ClassMap, MASK_ON, Mask};
use crate::report::NoiseFloor;

/// A region counts as seen in both sessions when the other has a scar pixel within this
/// distance of it (alignment and the scar's rim move it by a pixel or two).
pub const SCAR_MATCH_REACH_MM: f64 = 0.5;
/// The same without a physical scale.
pub const SCAR_MATCH_REACH_PX: u8 = 5;

/// Scar regions (as large as `scar_count` counts) of a later session with no scar of the
/// baseline near them (`appeared_*`), and of the baseline with no scar of the session near
/// them (`vanished_*`), within the measured region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScarTurnover {
    pub appeared_regions: usize,
    /// Their pixels / the measured region's × 100.
    pub appeared_area_pct: f64,
    /// The same in mm², with a scale.
    #[serde(default)]
    pub appeared_area_mm2: Option<f64>,
    pub vanished_regions: usize,
    pub vanished_area_pct: f64,
    #[serde(default)]
    pub vanished_area_mm2: Option<f64>,
    /// Where each of them lies in the baseline frame (ringed in the session's overlay when
    /// `beyond_noise`).
    #[serde(default)]
    pub regions: Vec<TurnoverRegion>,
    /// Whether these regions together (appeared + vanished) cover more than scar area's noise
    /// floor at the baseline's scar area, so that they alone could make a change the report
    /// calls real: only then does the report ask to check them. `scar_turnover` sets it for
    /// any region; the series weighs it against the floor (`weigh_against`).
    #[serde(default)]
    pub beyond_noise: bool,
}

/// One scar region seen in one photo only: `appeared` (in the later session, not the
/// baseline) or vanished; the circle around it (centre of its bounding box and half its
/// diagonal, baseline pixels) and its size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnoverRegion {
    pub appeared: bool,
    pub centre: [f64; 2],
    pub radius_px: f64,
    pub area_px: u64,
}

impl ScarTurnover {
    pub fn is_empty(&self) -> bool {
        self.appeared_regions == 0 && self.vanished_regions == 0
    }

    /// Whether the report asks to check these regions before the scar change is read.
    pub fn needs_check(&self) -> bool {
        self.beyond_noise && !self.is_empty()
    }

    /// How many regions the report asks to check: all of them when it asks, else none.
    pub fn regions_to_check(&self) -> usize {
        if self.needs_check() {
            self.appeared_regions + self.vanished_regions
        } else {
            0
        }
    }

    /// Sets `beyond_noise` against `floor`, scar area's noise floor (in % of the measured
    /// region), at the baseline's scar area `baseline_scar_pct`.
    pub fn weigh_against(&mut self, floor: &NoiseFloor, baseline_scar_pct: f64) {
        let lone_pct = self.appeared_area_pct + self.vanished_area_pct;
        self.beyond_noise = lone_pct > floor.half_width(baseline_scar_pct);
    }
}

/// Compares the scars of `baseline` and `session` (class maps in the baseline frame) inside
/// `region`. As `measure` does with `opts`: regions smaller than `scar_count`'s minimum are
/// left out, and areas are also given in mm² when there is a scale; the other session's scar
/// matches within [`reach_px`] of the scale.
pub fn scar_turnover(
    baseline: &ClassMap,
    session: &ClassMap,
    region: &Mask,
    opts: &MeasureOptions,
) -> ScarTurnover {
    let min_region_px = opts.min_scar_area_px();
    let reach = reach_px(opts.px_per_mm);
    let w = baseline.width().min(session.width()).min(region.width());
    let h = baseline.height().min(session.height()).min(region.height());
    let region_px = region
        .enumerate_pixels()
        .filter(|(x, y, p)| *x < w && *y < h && p.0[0] == MASK_ON)
        .count();
    if region_px == 0 {
        return ScarTurnover::default();
    }
    let scars = |classes: &ClassMap| {
        Mask::from_fn(w, h, |x, y| {
            let on = region.get_pixel(x, y).0[0] == MASK_ON
                && classes.get_pixel(x, y).0[0] == CLASS_SCAR;
            image::Luma([if on { MASK_ON } else { 0 }])
        })
    };
    let (before, after) = (scars(baseline), scars(session));
    // The regions of `own` with no scar of `other` near them; `appeared`: `own` is the session.
    let unmatched = |own: &Mask, other: &Mask, appeared: bool| {
        let near_other = imageproc::morphology::dilate(other, Norm::L2, reach);
        let labels = connected_components(own, Connectivity::Eight, image::Luma([0u8]));
        let count = labels.iter().copied().max().unwrap_or(0) as usize;
        let mut size = vec![0u64; count];
        let mut matched = vec![false; count];
        let mut bounds = vec![[u32::MAX, u32::MAX, 0, 0]; count];
        for ((x, y, label), near) in labels.enumerate_pixels().zip(near_other.iter()) {
            if label.0[0] > 0 {
                let i = label.0[0] as usize - 1;
                size[i] += 1;
                matched[i] |= *near == MASK_ON;
                let b = &mut bounds[i];
                *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
        }
        (0..count)
            .filter(|&i| !matched[i] && size[i] as f64 >= min_region_px)
            .map(|i| {
                let [x0, y0, x1, y1] = bounds[i].map(f64::from);
                TurnoverRegion {
                    appeared,
                    centre: [(x0 + x1) / 2.0, (y0 + y1) / 2.0],
                    radius_px: ((x1 - x0 + 1.0).hypot(y1 - y0 + 1.0)) / 2.0,
                    area_px: size[i],
                }
            })
            .collect::<Vec<_>>()
    };
    let pixels = |lone: &[TurnoverRegion]| lone.iter().map(|r| r.area_px).sum::<u64>() as f64;
    let area_pct = |lone: &[TurnoverRegion]| 100.0 * pixels(lone) / region_px as f64;
    let area_mm2 = |lone: &[TurnoverRegion]| opts.scale().map(|s| pixels(lone) / (s * s));
    let appeared = unmatched(&after, &before, true);
    let vanished = unmatched(&before, &after, false);
    ScarTurnover {
        // Until weighed against a noise floor, any region asks for a check.
        beyond_noise: !(appeared.is_empty() && vanished.is_empty()),
        appeared_regions: appeared.len(),
        appeared_area_pct: area_pct(&appeared),
        appeared_area_mm2: area_mm2(&appeared),
        vanished_regions: vanished.len(),
        vanished_area_pct: area_pct(&vanished),
        vanished_area_mm2: area_mm2(&vanished),
        regions: appeared.into_iter().chain(vanished).collect(),
    }
}

/// [`SCAR_MATCH_REACH_MM`] in pixels at `px_per_mm` (a usable scale), else
/// [`SCAR_MATCH_REACH_PX`].
pub fn reach_px(px_per_mm: Option<f64>) -> u8 {
    match usable_scale(px_per_mm) {
        Some(s) => (SCAR_MATCH_REACH_MM * s).round().clamp(1.0, 255.0) as u8,
        None => SCAR_MATCH_REACH_PX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::CLASS_BACKGROUND;

    fn with_discs(discs: &[(i32, i32, i32)]) -> ClassMap {
        ClassMap::from_fn(200, 100, |x, y| {
            let inside = discs.iter().any(|&(cx, cy, r)| {
                let (dx, dy) = (x as i32 - cx, y as i32 - cy);
                dx * dx + dy * dy <= r * r
            });
            image::Luma([if inside { CLASS_SCAR } else { CLASS_BACKGROUND }])
        })
    }

    fn disc_px(r: i32) -> f64 {
        let mut n = 0;
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r * r {
                    n += 1;
                }
            }
        }
        n as f64
    }

    #[test]
    fn a_scar_seen_in_one_session_only_is_named_with_its_area() {
        let region = Mask::from_pixel(200, 100, image::Luma([MASK_ON]));
        // Both: a scar that shrank and moved by 2 px. Baseline only: one at (150, 30).
        // Session only: one at (100, 70), and a speck under the minimum size.
        let baseline = with_discs(&[(30, 50, 12), (150, 30, 8)]);
        let session = with_discs(&[(32, 50, 9), (100, 70, 6), (180, 80, 2)]);
        // No scale: regions of 40 px or more count, matched within 5 px.
        let plain = MeasureOptions::default();
        let t = scar_turnover(&baseline, &session, &region, &plain);
        assert_eq!(t.appeared_regions, 1);
        assert!((t.appeared_area_pct - 100.0 * disc_px(6) / 20_000.0).abs() < 1e-9);
        assert_eq!(t.vanished_regions, 1);
        assert!((t.vanished_area_pct - 100.0 * disc_px(8) / 20_000.0).abs() < 1e-9);
        assert!(!t.is_empty());
        // Each is located for the overlay: the circle around the disc.
        let appeared = TurnoverRegion {
            appeared: true,
            centre: [100.0, 70.0],
            radius_px: 13.0f64.hypot(13.0) / 2.0,
            area_px: disc_px(6) as u64,
        };
        let vanished = TurnoverRegion {
            appeared: false,
            centre: [150.0, 30.0],
            radius_px: 17.0f64.hypot(17.0) / 2.0,
            area_px: disc_px(8) as u64,
        };
        assert_eq!(t.regions, [appeared, vanished]);

        // The same scars seen again, each a pixel off: nothing appeared or vanished.
        let again = with_discs(&[(31, 51, 12), (151, 30, 8)]);
        assert!(scar_turnover(&baseline, &again, &region, &plain).is_empty());
    }

    #[test]
    fn a_check_is_asked_only_beyond_the_noise_floor() {
        let region = Mask::from_pixel(200, 100, image::Luma([MASK_ON]));
        let baseline = with_discs(&[(30, 50, 12)]);
        let session = with_discs(&[(30, 50, 12), (150, 50, 8)]);
        let mut t = scar_turnover(&baseline, &session, &region, &MeasureOptions::default());
        let lone_pct = 100.0 * disc_px(8) / 20_000.0; // 1.005 %
        assert!((t.appeared_area_pct - lone_pct).abs() < 1e-9);
        // Floor 0.5 pp + 10 % of the baseline's 2 %: 0.7 pp, under the region's 1.005 %.
        let floor = NoiseFloor {
            relative_pct: 10.0,
            absolute: 0.5,
        };
        t.weigh_against(&floor, 2.0);
        assert!(t.beyond_noise && t.needs_check());
        assert_eq!(t.regions_to_check(), 1);
        // With a baseline of 6 % the floor is 1.1 pp: the region alone reads as noise.
        t.weigh_against(&floor, 6.0);
        assert!(!t.beyond_noise && !t.needs_check());
        assert_eq!(t.regions_to_check(), 0);
        // Nothing in one photo only needs no check, whatever the floor.
        let mut none = scar_turnover(&baseline, &baseline, &region, &MeasureOptions::default());
        none.weigh_against(
            &NoiseFloor {
                relative_pct: 0.0,
                absolute: -1.0,
            },
            0.0,
        );
        assert!(!none.needs_check());
    }

    #[test]
    fn only_the_measured_region_counts() {
        // The new scar lies outside the region (the ROI, or skin left out as non-skin).
        let mut region = Mask::from_pixel(200, 100, image::Luma([MASK_ON]));
        for y in 0..100 {
            for x in 100..200 {
                region.put_pixel(x, y, image::Luma([0]));
            }
        }
        let baseline = with_discs(&[(30, 50, 12)]);
        let session = with_discs(&[(30, 50, 12), (150, 50, 10)]);
        let plain = MeasureOptions::default();
        assert!(scar_turnover(&baseline, &session, &region, &plain).is_empty());
        let t = scar_turnover(
            &baseline,
            &session,
            &Mask::from_pixel(200, 100, image::Luma([MASK_ON])),
            &plain,
        );
        assert_eq!(t.appeared_regions, 1);
    }

    #[test]
    fn areas_in_mm2_follow_the_scale() {
        let region = Mask::from_pixel(200, 100, image::Luma([MASK_ON]));
        let baseline = with_discs(&[(30, 50, 12), (150, 30, 8)]);
        let session = with_discs(&[(32, 50, 9), (100, 70, 6)]);
        assert_eq!(
            scar_turnover(&baseline, &session, &region, &MeasureOptions::default())
                .appeared_area_mm2,
            None,
            "no scale, no mm²"
        );
        // At 20 px/mm a region's pixels / 400 px per mm² (minimum 0.1 mm² = 40 px, as above).
        let scaled = MeasureOptions {
            px_per_mm: Some(20.0),
            min_scar_mm2: 0.1,
            ..MeasureOptions::default()
        };
        let t = scar_turnover(&baseline, &session, &region, &scaled);
        assert_eq!(t.appeared_area_mm2, Some(disc_px(6) / 400.0));
        assert_eq!(t.vanished_area_mm2, Some(disc_px(8) / 400.0));
        assert!((t.appeared_area_pct - 100.0 * disc_px(6) / 20_000.0).abs() < 1e-9);
    }

    #[test]
    fn the_reach_follows_the_scale() {
        assert_eq!(reach_px(Some(20.0)), 10);
        assert_eq!(reach_px(Some(0.5)), 1);
        assert_eq!(reach_px(None), SCAR_MATCH_REACH_PX);
        assert_eq!(reach_px(Some(f64::NAN)), SCAR_MATCH_REACH_PX);
    }
}
