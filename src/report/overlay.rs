//! Segmentation overlays: takes a photo, its class map and valid mask (all in the baseline
//! frame), gives the photo with fine lines and scars drawn on it for people to check by eye.

use rayon::prelude::*;

use crate::definitions::{CLASS_LINE, CLASS_NON_SKIN, CLASS_SCAR, ClassMap, Mask, Rgb};
use crate::measure::scar_turnover::TurnoverRegion;

/// Fine lines: cyan, the colour farthest from every skin tone.
pub const LINE_COLOUR: [u8; 3] = [0, 229, 255];
/// Scars: magenta, clearly apart from both skin and the cyan lines.
pub const SCAR_COLOUR: [u8; 3] = [255, 0, 200];
/// Weight of the class colour inside a region; its outline is drawn solid.
const FILL_ALPHA: f32 = 0.45;
/// The HTML report shows pictures about this wide; outlines scale with the image to stay
/// at least a pixel wide there.
pub const OUTLINE_PER_PX: u32 = 900;
/// Brightness kept outside the valid region, so it reads as "not measured".
const DIM: f32 = 0.35;
/// Not skin (never measured): a cool slate wash, unlike any skin tone and unlike the dimmed
/// invalid region, so hair, eyes and background read as "left out, by the model".
pub const NON_SKIN_COLOUR: [u8; 3] = [70, 90, 140];
const NON_SKIN_ALPHA: f32 = 0.55;

/// Draws `classes` over `image`: each fine-line and scar region gets a semi-transparent fill
/// and a solid outline (thin lines are all outline, so they stay visible); pixels outside
/// `valid` are dimmed; non-skin pixels get a slate wash; background pixels inside `valid` are
/// left unchanged. The outline is
/// one pixel wide per started [`OUTLINE_PER_PX`] pixels of image width, so that it survives
/// the report's downscaling to that width.
/// `classes` and `valid` should have the image's size; pixels they do not cover count as
/// valid background.
pub fn draw_overlay(image: &Rgb, classes: &ClassMap, valid: &Mask) -> Rgb {
    let mut out = image.clone();
    let width = image.width() as usize;
    if width == 0 {
        return out;
    }
    let class_at = |x: i64, y: i64| -> u8 {
        if x < 0 || y < 0 {
            return 0;
        }
        match classes.get_pixel_checked(x as u32, y as u32) {
            Some(p) if p[0] == CLASS_LINE || p[0] == CLASS_SCAR => p[0],
            _ => 0,
        }
    };
    // A pixel is on the outline when another class lies within `radius` (a disc, so that
    // radius 1 means the four direct neighbours).
    let radius = image.width().div_ceil(OUTLINE_PER_PX).max(1) as i64;
    let offsets: Vec<(i64, i64)> = (-radius..=radius)
        .flat_map(|dy| (-radius..=radius).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| (dx, dy) != (0, 0) && dx * dx + dy * dy <= radius * radius)
        .collect();
    out.par_chunks_mut(width * 3)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as i64;
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let x = x as i64;
                let class = class_at(x, y);
                if class != 0 {
                    let colour = if class == CLASS_LINE {
                        LINE_COLOUR
                    } else {
                        SCAR_COLOUR
                    };
                    let edge = offsets
                        .iter()
                        .any(|(dx, dy)| class_at(x + dx, y + dy) != class);
                    blend(px, colour, if edge { 1.0 } else { FILL_ALPHA });
                } else if classes
                    .get_pixel_checked(x as u32, y as u32)
                    .is_some_and(|p| p[0] == CLASS_NON_SKIN)
                {
                    blend(px, NON_SKIN_COLOUR, NON_SKIN_ALPHA);
                }
                let inside = valid
                    .get_pixel_checked(x as u32, y as u32)
                    .is_none_or(|p| p[0] != 0);
                if !inside {
                    px.iter_mut()
                        .for_each(|v| *v = (*v as f32 * DIM).round() as u8);
                }
            }
        });
    out
}

/// Ring around a scar region the later session has and the baseline has not: amber, apart
/// from skin, the cyan lines and the magenta scars.
pub const APPEARED_COLOUR: [u8; 3] = [255, 176, 0];
/// Ring around a baseline scar region the later session does not have: white.
pub const VANISHED_COLOUR: [u8; 3] = [255, 255, 255];

/// Rings each scar region seen in one photo only ([`TurnoverRegion`], baseline frame) on a
/// session's overlay, a little outside the region so its own outline stays visible: amber
/// where it appeared, white where the baseline's is gone. Three outline widths thick.
pub fn mark_turnover(overlay: &mut Rgb, regions: &[TurnoverRegion]) {
    let thickness = 3.0 * overlay.width().div_ceil(OUTLINE_PER_PX).max(1) as f64;
    for region in regions {
        let colour = if region.appeared {
            APPEARED_COLOUR
        } else {
            VANISHED_COLOUR
        };
        // A solid annulus (concentric circles leave gaps between them).
        let [cx, cy] = region.centre;
        let inner = region.radius_px.ceil() + 2.0 * thickness;
        let outer = inner + thickness;
        let (w, h) = (overlay.width() as f64, overlay.height() as f64);
        let y_range =
            (cy - outer).floor().max(0.0) as u32..(cy + outer).ceil().clamp(0.0, h) as u32;
        for y in y_range {
            let x_range =
                (cx - outer).floor().max(0.0) as u32..(cx + outer).ceil().clamp(0.0, w) as u32;
            for x in x_range {
                let d = (x as f64 - cx).hypot(y as f64 - cy);
                if (inner..outer).contains(&d) {
                    overlay.put_pixel(x, y, image::Rgb(colour));
                }
            }
        }
    }
}

/// `pixel` ← (1 − alpha) · pixel + alpha · colour, rounded.
fn blend(pixel: &mut [u8], colour: [u8; 3], alpha: f32) {
    for (v, c) in pixel.iter_mut().zip(colour) {
        *v = (*v as f32 * (1.0 - alpha) + c as f32 * alpha).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, RgbImage};

    #[test]
    fn colours_lines_and_scars_and_keeps_valid_background() {
        let image = RgbImage::from_fn(20, 10, |x, y| image::Rgb([100 + x as u8, 80 + y as u8, 60]));
        let mut classes = GrayImage::new(20, 10);
        classes.put_pixel(3, 4, image::Luma([CLASS_LINE])); // one-pixel line: all outline
        for y in 2..7 {
            for x in 10..15 {
                classes.put_pixel(x, y, image::Luma([CLASS_SCAR]));
            }
        }
        let mut valid = GrayImage::from_pixel(20, 10, image::Luma([255]));
        valid.put_pixel(19, 9, image::Luma([0]));
        let out = draw_overlay(&image, &classes, &valid);

        assert_eq!(out.get_pixel(3, 4).0, LINE_COLOUR);
        assert_eq!(out.get_pixel(10, 2).0, SCAR_COLOUR, "scar outline is solid");
        // Scar interior (12, 4): 0.55 · photo + 0.45 · magenta.
        let p = image.get_pixel(12, 4).0;
        let expect: Vec<u8> = (0..3)
            .map(|c| (p[c] as f32 * 0.55 + SCAR_COLOUR[c] as f32 * 0.45).round() as u8)
            .collect();
        assert_eq!(out.get_pixel(12, 4).0.to_vec(), expect);
        // Background inside the valid region is untouched, everywhere.
        for (x, y, px) in out.enumerate_pixels() {
            let is_class = classes.get_pixel(x, y)[0] != 0;
            if !is_class && (x, y) != (19, 9) {
                assert_eq!(px, image.get_pixel(x, y), "({x}, {y})");
            }
        }
        // Outside the valid region: dimmed to 35 %.
        let p = image.get_pixel(19, 9).0;
        assert_eq!(
            out.get_pixel(19, 9).0,
            p.map(|v| (v as f32 * 0.35).round() as u8)
        );
    }

    #[test]
    fn scar_regions_in_one_photo_only_are_ringed_outside_their_outline() {
        let mut overlay = RgbImage::from_pixel(200, 100, image::Rgb([120, 90, 80]));
        let region = |appeared, x| TurnoverRegion {
            appeared,
            centre: [x, 50.0],
            radius_px: 10.0,
            area_px: 300,
        };
        mark_turnover(&mut overlay, &[region(true, 50.0), region(false, 150.0)]);
        // Rings from 16 px out (radius 10 + two widths of 3) to 19 px.
        assert_eq!(overlay.get_pixel(50 + 17, 50).0, APPEARED_COLOUR);
        assert_eq!(overlay.get_pixel(150, 50 - 17).0, VANISHED_COLOUR);
        // Inside the ring (the region and its own outline) and beyond it: untouched.
        for x in [50, 50 + 12, 50 + 22, 100] {
            assert_eq!(overlay.get_pixel(x, 50).0, [120, 90, 80], "x {x}");
        }
    }

    #[test]
    fn non_skin_gets_a_slate_wash_and_no_outline() {
        let image = RgbImage::from_pixel(6, 4, image::Rgb([200, 150, 120]));
        let mut classes = GrayImage::new(6, 4);
        for y in 0..4 {
            for x in 3..6 {
                classes.put_pixel(x, y, image::Luma([CLASS_NON_SKIN]));
            }
        }
        let valid = GrayImage::from_pixel(6, 4, image::Luma([255]));
        let out = draw_overlay(&image, &classes, &valid);
        let washed: Vec<u8> = [200.0f32, 150.0, 120.0]
            .iter()
            .zip(NON_SKIN_COLOUR)
            .map(|(v, c)| (v * 0.45 + c as f32 * 0.55).round() as u8)
            .collect();
        for y in 0..4 {
            assert_eq!(
                out.get_pixel(2, y).0,
                [200, 150, 120],
                "skin next to it unchanged"
            );
            assert_eq!(
                out.get_pixel(3, y).0.to_vec(),
                washed,
                "edge washed, not outlined"
            );
            assert_eq!(out.get_pixel(5, y).0.to_vec(), washed);
        }
    }

    #[test]
    fn outline_widens_with_the_image() {
        // 1801 px wide: three started 900s, so a 3-pixel outline.
        let image = RgbImage::from_pixel(1801, 20, image::Rgb([120, 90, 80]));
        let classes = GrayImage::from_fn(1801, 20, |x, _| {
            image::Luma([if (100..120).contains(&x) {
                CLASS_SCAR
            } else {
                0
            }])
        });
        let valid = GrayImage::from_pixel(1801, 20, image::Luma([255]));
        let out = draw_overlay(&image, &classes, &valid);
        // x = 99 is background, so 100..=102 are outline and 103 is fill; same on the right.
        assert_eq!(out.get_pixel(102, 10).0, SCAR_COLOUR);
        assert_ne!(out.get_pixel(103, 10).0, SCAR_COLOUR);
        assert_eq!(out.get_pixel(117, 10).0, SCAR_COLOUR);
        assert_ne!(out.get_pixel(116, 10).0, SCAR_COLOUR);
        assert_eq!(out.get_pixel(99, 10), image.get_pixel(99, 10));
    }
}
