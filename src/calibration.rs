//! calibration: finds the physical scale in a photo from a calibration target of known size.
//!
//! The target skintrack looks for (README "Physical scale"): a matte **black disc** of known
//! diameter (default 10 mm) printed in the middle of a **white square label** at least 1.6×
//! the disc's diameter wide, stuck on the skin or held beside it, roughly facing the camera.
//! Such labels are cheap to print and the disc's area gives its diameter to a fraction of a
//! pixel even when its edge is soft.
//!
//! Takes an RGB photo; gives a [`Target`] (centre, diameter in pixels, px per mm) or nothing.

use image::GrayImage;
use imageproc::region_labelling::{Connectivity, connected_components};

use crate::definitions::Rgb;

/// Default diameter of the target's black disc, in millimetres.
pub const DEFAULT_DISC_MM: f64 = 10.0;

/// Label width / disc diameter the detector relies on (the white ring it checks).
const LABEL_TO_DISC: f64 = 1.6;

/// A calibration target found in a photo.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Centre of the disc, in the photo's pixels.
    pub centre: (f64, f64),
    /// Diameter of a circle of the disc's area, in pixels.
    pub diameter_px: f64,
    /// The disc's diameter in mm (what the user said it is).
    pub diameter_mm: f64,
    /// Contrast of the white ring over the disc, 0–1 (how sure the detection is).
    pub contrast: f64,
}

impl Target {
    pub fn px_per_mm(&self) -> f64 {
        self.diameter_px / self.diameter_mm
    }

    /// Radius around the centre that the whole label covers (with a margin), in pixels:
    /// nothing inside it is skin.
    pub fn exclusion_radius_px(&self) -> f64 {
        // Half the label's diagonal, plus 15 % for a label a little larger than the minimum.
        self.diameter_px * LABEL_TO_DISC * std::f64::consts::SQRT_2 / 2.0 * 1.15
    }
}

/// The white label's colour around a found disc, in one photo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelColour {
    /// R, G, B (0–255) of the label's unclipped pixels: the mean of each channel's middle half.
    pub rgb: [f64; 3],
    /// How many unclipped ring pixels the colour was read from.
    pub pixels: u64,
}

/// Fewer label pixels than this (in frame and unclipped): no colour.
const MIN_LABEL_PIXELS: usize = 200;

/// The colour of the white label around `target`'s disc, over a ring from 1.2 to 1.5 disc radii
/// (inside the smallest label allowed, 1.6 radii from the centre at its narrowest), leaving
/// out near-black and clipped pixels. A neutral surface that every session photographs under
/// its own light, unlike skin, which the treatment may redden. Each channel is the mean of its
/// middle half: robust like a median, but not stepped to whole levels (one level in 235 is
/// 0.4 % of gain, about the redness noise floor).
///
/// `None` when fewer than [`MIN_LABEL_PIXELS`] ring pixels are usable or more than a tenth
/// of the ring is clipped (an overexposed label tells no white balance).
pub fn label_colour(photo: &Rgb, target: &Target) -> Option<LabelColour> {
    let (w, h) = photo.dimensions();
    let radius = target.diameter_px / 2.0;
    let (inner, outer) = (radius * 1.2, radius * 1.5);
    let (cx, cy) = target.centre;
    let x0 = (cx - outer).floor().max(0.0) as u32;
    let y0 = (cy - outer).floor().max(0.0) as u32;
    let x1 = ((cx + outer).ceil().max(0.0) as u32).min(w);
    let y1 = ((cy + outer).ceil().max(0.0) as u32).min(h);
    let mut channels: [Vec<u8>; 3] = Default::default();
    let mut ring = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = (x as f64 - cx).hypot(y as f64 - cy);
            if d < inner || d > outer {
                continue;
            }
            ring += 1;
            let p = photo.get_pixel(x, y).0;
            if p.iter().all(|&v| (8..250).contains(&v)) {
                for c in 0..3 {
                    channels[c].push(p[c]);
                }
            }
        }
    }
    let usable = channels[0].len();
    if usable < MIN_LABEL_PIXELS || usable * 10 < ring * 9 {
        return None;
    }
    let rgb = channels.map(|mut values| {
        values.sort_unstable();
        let quarter = values.len() / 4;
        let middle = &values[quarter..values.len() - quarter];
        middle.iter().map(|&v| v as f64).sum::<f64>() / middle.len() as f64
    });
    Some(LabelColour {
        rgb,
        pixels: usable as u64,
    })
}

/// Longest side the candidate search runs at (the diameter is then measured at full size).
const SEARCH_LONG_SIDE: u32 = 1024;

/// Smallest disc diameter measured, in full-size pixels: below it a pixel of blur or JPEG
/// error is several % of the scale, and pupils and the holes of printed letters (a caption's
/// "o") pass for discs (two of 869 real photos without a target, README "Physical scale").
const MIN_DISC_PX: f64 = 20.0;

/// Widest field of view a photo of a treated area spans, in mm along its long side. A disc
/// that would make the photo wider than this is too small for the disc the user named: it is
/// something else (a pupil in a whole-face photo), not the target.
const MAX_FIELD_MM: f64 = 500.0;

/// Finds the most contrasted calibration target in `photo`, if any.
pub fn find_target(photo: &Rgb, disc_mm: f64) -> Option<Target> {
    let (w, h) = photo.dimensions();
    if w < 32 || h < 32 || !(disc_mm.is_finite() && disc_mm > 0.0) {
        return None;
    }
    let luma = luminance(photo);
    let factor = (w.max(h) as f64 / SEARCH_LONG_SIDE as f64).max(1.0);
    let small = if factor > 1.0 {
        image::imageops::resize(
            &luma,
            (w as f64 / factor).round() as u32,
            (h as f64 / factor).round() as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        luma.clone()
    };
    // The label is among the brightest things in the frame; the disc is far darker than it.
    let bright = percentile(&small, 0.995) as f64;
    if bright < 120.0 {
        return None;
    }
    let dark_limit = (bright * 0.4) as u8;
    let dark = GrayImage::from_fn(small.width(), small.height(), |x, y| {
        image::Luma([u8::from(small.get_pixel(x, y).0[0] < dark_limit) * 255])
    });
    let labels = connected_components(&dark, Connectivity::Eight, image::Luma([0u8]));
    let mut blobs: std::collections::HashMap<u32, Blob> = std::collections::HashMap::new();
    for (x, y, l) in labels.enumerate_pixels() {
        if l.0[0] != 0 {
            blobs.entry(l.0[0]).or_insert_with(Blob::new).add(x, y);
        }
    }
    let mut best: Option<Target> = None;
    for blob in blobs.values() {
        if !blob.is_round_disc() {
            continue;
        }
        let (cx, cy) = blob.centre();
        let centre = (cx * factor, cy * factor);
        let radius = (blob.count as f64 / std::f64::consts::PI).sqrt() * factor;
        if let Some(target) = measure_disc(photo, &luma, centre, radius, disc_mm)
            && best.as_ref().is_none_or(|b| target.contrast > b.contrast)
        {
            best = Some(target);
        }
    }
    best
}

/// A dark connected component's extent and size at the search scale.
struct Blob {
    count: u64,
    sum_x: f64,
    sum_y: f64,
    min: (u32, u32),
    max: (u32, u32),
}

impl Blob {
    fn new() -> Blob {
        Blob {
            count: 0,
            sum_x: 0.0,
            sum_y: 0.0,
            min: (u32::MAX, u32::MAX),
            max: (0, 0),
        }
    }

    fn add(&mut self, x: u32, y: u32) {
        self.count += 1;
        self.sum_x += x as f64;
        self.sum_y += y as f64;
        self.min = (self.min.0.min(x), self.min.1.min(y));
        self.max = (self.max.0.max(x), self.max.1.max(y));
    }

    fn centre(&self) -> (f64, f64) {
        (
            self.sum_x / self.count as f64,
            self.sum_y / self.count as f64,
        )
    }

    /// Big enough to measure, about as wide as tall, and filling its box like a disc (π/4).
    fn is_round_disc(&self) -> bool {
        let bw = (self.max.0 - self.min.0 + 1) as f64;
        let bh = (self.max.1 - self.min.1 + 1) as f64;
        let fill = self.count as f64 / (bw * bh);
        self.count >= 60 && (bw / bh - 1.0).abs() < 0.25 && (0.68..=0.88).contains(&fill)
    }
}

/// Checks the white ring around a candidate disc at full resolution and measures the disc's
/// area there, thresholding halfway between disc and ring.
fn measure_disc(
    photo: &Rgb,
    luma: &GrayImage,
    centre: (f64, f64),
    radius: f64,
    disc_mm: f64,
) -> Option<Target> {
    let (w, h) = luma.dimensions();
    let ring = (radius * 1.2, radius * LABEL_TO_DISC * 0.95);
    let reach = ring.1.ceil() + 1.0;
    if centre.0 - reach < 0.0
        || centre.1 - reach < 0.0
        || centre.0 + reach >= w as f64
        || centre.1 + reach >= h as f64
    {
        return None;
    }
    let (x0, x1) = ((centre.0 - reach) as u32, (centre.0 + reach) as u32);
    let (y0, y1) = ((centre.1 - reach) as u32, (centre.1 + reach) as u32);
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    // Saturation of the ring, in per mille: a white label is grey-ish, skin is not.
    let mut outer_saturation = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = (x as f64 - centre.0).hypot(y as f64 - centre.1);
            let v = luma.get_pixel(x, y).0[0];
            if d < radius * 0.7 {
                inner.push(v);
            } else if d >= ring.0 && d <= ring.1 {
                outer.push(v);
                let [r, g, b] = photo.get_pixel(x, y).0;
                let (hi, lo) = (r.max(g).max(b) as u32, r.min(g).min(b) as u32);
                outer_saturation.push(((hi - lo) * 1000 / hi.max(1)) as u16);
            }
        }
    }
    let disc_level = median(&mut inner)? as f64;
    let ring_level = median(&mut outer)? as f64;
    // The ring must be white all round: its dimmest tenth still far brighter than the disc,
    // and even: its brightest tenth not far above its middle. A printed label is flat; an iris
    // around a pupil (light eyes pass the other checks) is streaked and has catchlights.
    outer.sort_unstable();
    let ring_low = outer[outer.len() / 10] as f64;
    let ring_high = outer[outer.len() * 9 / 10] as f64;
    let contrast = (ring_level - disc_level) / ring_level.max(1.0);
    outer_saturation.sort_unstable();
    let ring_saturation = outer_saturation[outer_saturation.len() / 2] as f64 / 1000.0;
    if contrast < 0.5
        || ring_low < disc_level + 0.6 * (ring_level - disc_level)
        || ring_high > ring_level + 0.4 * (ring_level - disc_level)
        || ring_saturation > 0.18
    {
        return None;
    }
    // Area at sub-pixel precision: each pixel counts by where its value lies between the disc
    // and ring levels, so a soft (blurred or resampled) edge still sums to the true area.
    let mut area = 0.0;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = (x as f64 - centre.0).hypot(y as f64 - centre.1);
            if d < ring.0 {
                let v = luma.get_pixel(x, y).0[0] as f64;
                area += ((ring_level - v) / (ring_level - disc_level)).clamp(0.0, 1.0);
            }
        }
    }
    let diameter_px = 2.0 * (area / std::f64::consts::PI).sqrt();
    let field_mm = w.max(h) as f64 / (diameter_px / disc_mm);
    if diameter_px < MIN_DISC_PX || field_mm > MAX_FIELD_MM {
        return None;
    }
    Some(Target {
        centre,
        diameter_px,
        diameter_mm: disc_mm,
        contrast,
    })
}

fn luminance(photo: &Rgb) -> GrayImage {
    GrayImage::from_fn(photo.width(), photo.height(), |x, y| {
        let [r, g, b] = photo.get_pixel(x, y).0;
        let y = 0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64;
        image::Luma([y.round().clamp(0.0, 255.0) as u8])
    })
}

fn percentile(img: &GrayImage, q: f64) -> u8 {
    let mut histogram = [0u64; 256];
    for p in img.pixels() {
        histogram[p.0[0] as usize] += 1;
    }
    let target = (q * img.pixels().len() as f64) as u64;
    let mut seen = 0;
    for (value, count) in histogram.iter().enumerate() {
        seen += count;
        if seen > target {
            return value as u8;
        }
    }
    255
}

fn median(values: &mut [u8]) -> Option<u8> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    Some(*values.select_nth_unstable(mid).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skin-coloured photo with a target drawn at `centre` (disc radius `r` px), with 4×4
    /// supersampled edges.
    fn photo_with_target(w: u32, h: u32, centre: (f64, f64), r: f64) -> Rgb {
        let half_label = r * 2.0 * 0.9;
        Rgb::from_fn(w, h, |x, y| {
            let mut sum = [0.0f64; 3];
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = x as f64 + (sx as f64 + 0.5) / 4.0 - 0.5;
                    let py = y as f64 + (sy as f64 + 0.5) / 4.0 - 0.5;
                    let (dx, dy) = (px - centre.0, py - centre.1);
                    let c = if dx.hypot(dy) < r {
                        [25.0, 25.0, 28.0]
                    } else if dx.abs() < half_label && dy.abs() < half_label {
                        [235.0, 235.0, 232.0]
                    } else {
                        [190.0, 140.0, 120.0]
                    };
                    for k in 0..3 {
                        sum[k] += c[k] / 16.0;
                    }
                }
            }
            image::Rgb(sum.map(|v| v.round() as u8))
        })
    }

    #[test]
    fn the_label_colour_is_read_around_the_disc_and_refused_when_clipped() {
        let photo = photo_with_target(400, 300, (200.0, 150.0), 30.0);
        let target = find_target(&photo, 10.0).unwrap();
        let label = label_colour(&photo, &target).unwrap();
        assert_eq!(
            label.rgb,
            [235.0, 235.0, 232.0],
            "neither disc nor skin in the ring"
        );
        assert!(label.pixels > 2000, "{}", label.pixels);
        // The same photo overexposed: the label clips, so it tells no white balance.
        let bright = Rgb::from_fn(400, 300, |x, y| {
            image::Rgb(
                photo
                    .get_pixel(x, y)
                    .0
                    .map(|v| (v as f64 * 1.1).min(255.0) as u8),
            )
        });
        assert_eq!(label_colour(&bright, &target), None);
    }

    #[test]
    fn finds_the_disc_and_its_diameter_to_a_fraction_of_a_percent() {
        let photo = photo_with_target(900, 700, (650.3, 210.7), 47.5);
        let t = find_target(&photo, 10.0).expect("target");
        assert!((t.centre.0 - 650.3).abs() < 1.5 && (t.centre.1 - 210.7).abs() < 1.5);
        assert!((t.diameter_px - 95.0).abs() / 95.0 < 0.005, "{t:?}");
        assert!((t.px_per_mm() - 9.5).abs() < 0.05);
    }

    #[test]
    fn large_photos_are_searched_small_and_measured_full_size() {
        let photo = photo_with_target(3000, 2000, (400.0, 1500.0), 80.0);
        let t = find_target(&photo, 5.0).expect("target");
        assert!((t.diameter_px - 160.0).abs() / 160.0 < 0.005, "{t:?}");
    }

    #[test]
    fn dark_spots_without_a_white_label_are_not_targets() {
        // A dark round mole on skin, and dark skin with a white square but no disc.
        let mut photo = photo_with_target(600, 400, (300.0, 200.0), 30.0);
        for (x, y, p) in photo.enumerate_pixels_mut() {
            let d = (x as f64 - 300.0).hypot(y as f64 - 200.0);
            if d >= 30.0 {
                *p = image::Rgb([190, 140, 120]);
            }
        }
        assert_eq!(find_target(&photo, 10.0), None);
        let plain = Rgb::from_pixel(400, 300, image::Rgb([70, 50, 40]));
        assert_eq!(find_target(&plain, 10.0), None);
    }

    #[test]
    fn a_ring_with_bright_streaks_is_not_a_label() {
        // An iris around a pupil: mostly mid-grey, with a fifth of the angles (streaks,
        // catchlights) far brighter. Its darkest tenth clears the disc as a label's would.
        let centre = (300.0, 200.0);
        let mut photo = photo_with_target(600, 400, centre, 30.0);
        for (x, y, p) in photo.enumerate_pixels_mut() {
            let (dx, dy) = (x as f64 - centre.0, y as f64 - centre.1);
            if p.0 == [235, 235, 232] {
                let streak = (dy.atan2(dx).to_degrees() + 180.0) % 36.0 < 7.2;
                *p = if streak {
                    image::Rgb([250, 250, 250])
                } else {
                    image::Rgb([150, 150, 148])
                };
            }
        }
        assert_eq!(find_target(&photo, 10.0), None);
        // The same disc with an even ring at the streaks' mid-grey is a target.
        let even = Rgb::from_fn(600, 400, |x, y| {
            let p = *photo.get_pixel(x, y);
            if p.0 == [250, 250, 250] {
                image::Rgb([150, 150, 148])
            } else {
                p
            }
        });
        assert!(find_target(&even, 10.0).is_some());
    }

    #[test]
    fn discs_too_small_to_give_a_scale_are_not_targets() {
        // A 16 px disc (a caption's "o", a pupil): too few pixels for a scale.
        let small = photo_with_target(400, 300, (200.0, 150.0), 8.0);
        assert_eq!(find_target(&small, 10.0), None);
        let measurable = photo_with_target(400, 300, (200.0, 150.0), 12.0);
        assert!(find_target(&measurable, 10.0).is_some());
        // A 40 px disc in a 3000 px photo: were it 10 mm, the photo would span 750 mm, no
        // treated area; a 5 mm disc (the user's `--target-mm 5`) makes it 375 mm.
        let wide = photo_with_target(3000, 2000, (1500.0, 1000.0), 20.0);
        assert_eq!(find_target(&wide, 10.0), None);
        assert!(find_target(&wide, 5.0).is_some());
    }
}
