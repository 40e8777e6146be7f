//! Skeletons of thin structures: thinning of a binary mask to one-pixel-wide, 8-connected
//! centre lines, and their length.
//!
//! Takes a [`Mask`] (255 = set); gives the skeleton as a [`Mask`] and its length in pixels, in
//! total and per 8-connected component. imageproc has no skeletonisation, hence this module.

use imageproc::region_labelling::{Connectivity, connected_components};
use rayon::prelude::*;

use crate::definitions::{MASK_ON, Mask};

/// A binary image with bounds-checked reads (outside = unset).
struct Bits {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Bits {
    fn from_mask(mask: &Mask) -> Bits {
        Bits {
            w: mask.width() as usize,
            h: mask.height() as usize,
            px: mask.as_raw().iter().map(|&v| u8::from(v != 0)).collect(),
        }
    }

    fn get(&self, x: isize, y: isize) -> u8 {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            0
        } else {
            self.px[y as usize * self.w + x as usize]
        }
    }

    /// Neighbours of pixel `i`, clockwise from north: N, NE, E, SE, S, SW, W, NW.
    fn ring(&self, i: usize) -> [u8; 8] {
        let (x, y) = ((i % self.w) as isize, (i / self.w) as isize);
        [
            self.get(x, y - 1),
            self.get(x + 1, y - 1),
            self.get(x + 1, y),
            self.get(x + 1, y + 1),
            self.get(x, y + 1),
            self.get(x - 1, y + 1),
            self.get(x - 1, y),
            self.get(x - 1, y - 1),
        ]
    }
}

/// Whether Guo–Hall thinning (the variant of Lam, Lee & Suen 1992, as in scikit-image's
/// `thin`) deletes the pixel with neighbourhood `p` (N, NE, E, SE, S, SW, W, NW) in
/// sub-iteration `first` (true) or second (false). Unlike Zhang–Suen it keeps a pixel with two
/// adjacent neighbours as an end point, so 2-px-thick diagonal lines are not eaten from the ends.
fn guo_hall_deletes(p: &[u8; 8], first: bool) -> bool {
    // x[0..8]: E, NE, N, NW, W, SW, S, SE (counter-clockwise from east).
    let x = [p[2], p[1], p[0], p[7], p[6], p[5], p[4], p[3]];
    let on = |k: usize| x[k % 8] == 1;
    // G1: exactly one 8-connected run of neighbours (Hilditch crossing number 1).
    let crossing = [0, 2, 4, 6]
        .iter()
        .filter(|&&k| !on(k) && (on(k + 1) || on(k + 2)))
        .count();
    if crossing != 1 {
        return false;
    }
    // G2: not an end point and not the only link.
    let n1 = (0..4).filter(|&k| on(2 * k) || on(2 * k + 1)).count();
    let n2 = (0..4).filter(|&k| on(2 * k + 1) || on(2 * k + 2)).count();
    if !(2..=3).contains(&n1.min(n2)) {
        return false;
    }
    // G3 / G3': alternate the side that is peeled.
    if first {
        !((on(1) || on(2) || !on(7)) && on(0))
    } else {
        !((on(5) || on(6) || !on(3)) && on(4))
    }
}

/// Whether removing the centre of neighbourhood `p` (N, NE, E, SE, S, SW, W, NW) keeps the
/// 8-connected topology: Yokoi's 8-connectivity number is 1.
fn is_simple(p: &[u8; 8]) -> bool {
    // Yokoi's order starts at E and runs counter-clockwise: E, NE, N, NW, W, SW, S, SE.
    let q = [p[2], p[1], p[0], p[7], p[6], p[5], p[4], p[3]];
    let inv = |k: usize| 1 - q[k % 8];
    let n8: i32 = [0, 2, 4, 6]
        .iter()
        .map(|&k| inv(k) as i32 - (inv(k) * inv(k + 1) * inv(k + 2)) as i32)
        .sum();
    n8 == 1
}

/// Thins `mask` to its skeleton: Guo–Hall parallel thinning (each sub-iteration decides over
/// all set pixels at once, in parallel), then sequential removal of the staircase corners it
/// can leave, so that diagonal lines become 8-connected chains whose length is not
/// over-counted by √2.
pub fn thin(mask: &Mask) -> Mask {
    let mut bits = Bits::from_mask(mask);
    let mut set: Vec<usize> = (0..bits.px.len()).filter(|&i| bits.px[i] == 1).collect();
    loop {
        let mut changed = false;
        for first in [true, false] {
            // Decide from the current image, then delete together (the parallel rule).
            let doomed: Vec<usize> = set
                .par_iter()
                .copied()
                .filter(|&i| guo_hall_deletes(&bits.ring(i), first))
                .collect();
            changed |= !doomed.is_empty();
            for &i in &doomed {
                bits.px[i] = 0;
            }
            set.retain(|&i| bits.px[i] == 1);
        }
        if !changed {
            break;
        }
    }
    // Staircase clean-up: a pixel with two orthogonal 4-neighbours (e.g. N and E) whose removal
    // keeps the topology is a corner the diagonal link already bridges. Sequential, so each
    // decision sees the previous removals and a chain never breaks.
    loop {
        let mut changed = false;
        for &i in &set {
            if bits.px[i] == 0 {
                continue;
            }
            let p = bits.ring(i);
            let [n, _, e, _, s, _, w, _] = p;
            let count: u8 = p.iter().sum();
            let corner = n * e + e * s + s * w + w * n > 0;
            if count >= 2 && corner && is_simple(&p) {
                bits.px[i] = 0;
                changed = true;
            }
        }
        set.retain(|&i| bits.px[i] == 1);
        if !changed {
            break;
        }
    }
    let mut out = Mask::new(mask.width(), mask.height());
    for (o, &v) in out.iter_mut().zip(&bits.px) {
        *o = if v == 1 { MASK_ON } else { 0 };
    }
    out
}

/// Length of a skeleton in pixels: the sum over its neighbour links, each counted once, 1 for a
/// 4-neighbour and √2 for a diagonal one; a diagonal link is skipped where the two pixels are
/// already joined through a shared 4-neighbour, so junction triangles do not count twice.
/// Returns the total and the length of each 8-connected component (in label order).
pub fn skeleton_length(skeleton: &Mask) -> (f64, Vec<f64>) {
    let labels = connected_components(skeleton, Connectivity::Eight, image::Luma([0u8]));
    let n_labels = labels.iter().copied().max().unwrap_or(0) as usize;
    let mut per = vec![0.0f64; n_labels];
    let (w, h) = (skeleton.width() as i64, skeleton.height() as i64);
    let on = |x: i64, y: i64| {
        x >= 0 && y >= 0 && x < w && y < h && labels.get_pixel(x as u32, y as u32).0[0] != 0
    };
    for y in 0..h {
        for x in 0..w {
            let label = labels.get_pixel(x as u32, y as u32).0[0] as usize;
            if label == 0 {
                continue;
            }
            let mut len = 0.0;
            let (east, south, west) = (on(x + 1, y), on(x, y + 1), on(x - 1, y));
            if east {
                len += 1.0;
            }
            if south {
                len += 1.0;
            }
            if on(x + 1, y + 1) && !east && !south {
                len += std::f64::consts::SQRT_2;
            }
            if on(x - 1, y + 1) && !west && !south {
                len += std::f64::consts::SQRT_2;
            }
            per[label - 1] += len;
        }
    }
    (per.iter().sum(), per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(mask: &Mask) -> usize {
        mask.iter().filter(|&&v| v != 0).count()
    }

    /// Every skeleton pixel has at most 2 neighbours on a simple open curve.
    fn max_neighbours(mask: &Mask) -> u8 {
        let bits = Bits::from_mask(mask);
        (0..bits.px.len())
            .filter(|&i| bits.px[i] == 1)
            .map(|i| bits.ring(i).iter().sum::<u8>())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn thick_horizontal_line_thins_to_its_centre() {
        let mut m = Mask::new(240, 20);
        for y in 9..12 {
            for x in 20..220 {
                m.put_pixel(x, y, image::Luma([255]));
            }
        }
        let s = thin(&m);
        // One pixel thick, on the centre row, nearly the full 200 px.
        assert!(s.enumerate_pixels().all(|(_, y, p)| p.0[0] == 0 || y == 10));
        let (len, per) = skeleton_length(&s);
        assert_eq!(per.len(), 1);
        assert!((len - 200.0).abs() / 200.0 < 0.03, "length {len}");
        assert_eq!(count(&s) as f64 - 1.0, len);
    }

    #[test]
    fn thick_diagonal_line_gives_true_length() {
        // A 4-px-wide band along y = x + 10, from x = 10 to x = 150: true length 140·√2.
        let mut m = Mask::new(180, 180);
        for x in 10..150i32 {
            for d in -2..2 {
                let y = x + 10 + d;
                m.put_pixel(x as u32, y as u32, image::Luma([255]));
                m.put_pixel(x as u32 + 1, y as u32, image::Luma([255]));
            }
        }
        let s = thin(&m);
        let (len, per) = skeleton_length(&s);
        let truth = 140.0 * std::f64::consts::SQRT_2;
        assert_eq!(per.len(), 1);
        assert!(
            (len - truth).abs() / truth < 0.05,
            "length {len} vs {truth}"
        );
        assert!(max_neighbours(&s) <= 2);
    }

    #[test]
    fn shallow_slope_line_has_the_known_chain_code_bias() {
        // Slope 1/3, 3 px thick: the true centre-line length is 150·√(1 + 1/9). An 8-connected
        // chain with 1 / √2 links over-reads lines between the axes and the diagonals: for
        // slope 1/3 by (2 + √2) / √10 − 1 = +8.0 %, less the ends; a 4-connected staircase
        // would read +26 %.
        let mut m = Mask::new(200, 80);
        for x in 20..170u32 {
            let yc = 10.0 + (x - 20) as f64 / 3.0;
            for y in 0..80u32 {
                if (y as f64 - yc).abs() <= 1.2 {
                    m.put_pixel(x, y, image::Luma([255]));
                }
            }
        }
        let s = thin(&m);
        let (len, per) = skeleton_length(&s);
        let truth = 150.0 * (1.0f64 + 1.0 / 9.0).sqrt();
        assert_eq!(per.len(), 1);
        let bias = len / truth - 1.0;
        assert!((0.03..0.09).contains(&bias), "length {len} vs {truth}");
        assert!(max_neighbours(&s) <= 2);
    }

    #[test]
    fn two_pixel_diagonal_survives_and_crossing_lines_join() {
        // A 2-px-thick 45° band (Zhang–Suen erodes these from the ends to nothing).
        let mut m = Mask::new(120, 120);
        for x in 10..90u32 {
            m.put_pixel(x, x + 10, image::Luma([255]));
            m.put_pixel(x, x + 11, image::Luma([255]));
        }
        let (len, per) = skeleton_length(&thin(&m));
        let truth = 80.0 * std::f64::consts::SQRT_2;
        assert_eq!(per.len(), 1);
        assert!(
            (len - truth).abs() / truth < 0.05,
            "length {len} vs {truth}"
        );

        // A plus sign of two 3-px-wide bars, 61 px long: one component, about 2 × 60 long.
        let mut plus = Mask::new(80, 80);
        for i in 10..71u32 {
            for d in 39..42u32 {
                plus.put_pixel(i, d, image::Luma([255]));
                plus.put_pixel(d, i, image::Luma([255]));
            }
        }
        let (len, per) = skeleton_length(&thin(&plus));
        assert_eq!(per.len(), 1);
        assert!((len - 120.0).abs() / 120.0 < 0.05, "plus length {len}");
    }

    #[test]
    fn simple_point_rule() {
        // Bridge between W and E: not simple. End of a chain (only W): simple.
        assert!(!is_simple(&[0, 0, 1, 0, 0, 0, 1, 0]));
        assert!(is_simple(&[0, 0, 0, 0, 0, 0, 1, 0]));
        // Corner with N and E: simple (NE-diagonal bridges them).
        assert!(is_simple(&[1, 0, 1, 0, 0, 0, 0, 0]));
        // Isolated pixel: not simple (removal deletes a component).
        assert!(!is_simple(&[0; 8]));
    }

    #[test]
    fn lengths_per_component_and_links_counted_once() {
        // A 2×2 block's link length: 4 sides (the diagonals are bridged): 4.
        let mut m = Mask::new(10, 10);
        for (x, y) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
            m.put_pixel(x, y, image::Luma([255]));
        }
        // Separate diagonal pair: √2.
        m.put_pixel(6, 6, image::Luma([255]));
        m.put_pixel(7, 7, image::Luma([255]));
        let (total, per) = skeleton_length(&m);
        assert_eq!(per.len(), 2);
        assert!((per[0] - 4.0).abs() < 1e-12);
        assert!((per[1] - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert!((total - 4.0 - std::f64::consts::SQRT_2).abs() < 1e-12);
    }
}
