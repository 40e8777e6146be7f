//! The clinical variety ([`super::SynthOptions::clinical`]): what treated skin shows beyond
//! the plain generator's fine lines and round atrophic scars. Lesions: branching lines,
//! ice-pick, boxcar and rolling acne scars, raised (hypertrophic) scars and groups of stretch
//! marks, all labelled and measured like the plain ones. Look-alikes, labelled skin because a
//! model must not call them lesions: freckles and pigment spots, acne papules and red marks,
//! vellus and terminal hairs, and specular shine.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::noise::{self, fbm, hash2, smoothstep, unit16};
use super::world::{Line, MAX_SCARS, Scar, SegGrid, Skin, seg_dist};

/// Codes of the look-alike map (`*_look_alikes.png`): which look-alike a skin pixel shows.
pub const LOOK_NONE: u8 = 0;
pub const LOOK_PIGMENT: u8 = 1;
pub const LOOK_ACNE: u8 = 2;
pub const LOOK_HAIR: u8 = 3;
pub const LOOK_SHINE: u8 = 4;

/// A spot shows in the look-alike map where its weight is above this.
const SPOT_SHOWN: f64 = 0.3;

/// Adds a side branch to about a third of the lines: it leaves its parent at an angle, starts
/// as wide as the parent there and tapers off (wrinkles fork).
pub(super) fn add_branches(rng: &mut ChaCha8Rng, lines: &mut Vec<Line>, bx: [f64; 4], ppm: f64) {
    let parents = lines.len();
    for l in 0..parents {
        if !rng.random_bool(0.35) {
            continue;
        }
        let parent = &lines[l];
        let n = parent.pts.len();
        if n < 12 {
            continue;
        }
        let i = rng.random_range(n / 5..n * 4 / 5);
        let (a, b) = (parent.pts[i - 1], parent.pts[i + 1]);
        let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let mut heading = (b[1] - a[1]).atan2(b[0] - a[0]) + side * rng.random_range(0.35..0.9);
        let target = rng.random_range(0.2..0.5) * n as f64;
        let hw0 = parent.hw[i] * rng.random_range(0.6..0.85);
        let contrast0 = parent.contrast[i] * rng.random_range(0.7..0.95);
        let bend = rng.random_range(-1.0..1.0) / (12.0 * ppm);
        let m = 3.0 * hw0 + 1.0;
        let inside = |p: [f64; 2]| {
            p[0] >= bx[0] + m && p[0] <= bx[2] - m && p[1] >= bx[1] + m && p[1] <= bx[3] - m
        };
        let mut p = parent.pts[i];
        let mut pts = vec![p];
        while (pts.len() as f64) < target {
            heading += bend;
            let next = [p[0] + heading.cos(), p[1] + heading.sin()];
            if !inside(next) {
                break;
            }
            pts.push(next);
            p = next;
        }
        if pts.len() < 8 {
            continue;
        }
        let len = (pts.len() - 1) as f64;
        let (hw, contrast) = (0..pts.len())
            .map(|k| {
                let fade = 1.0 - 0.65 * smoothstep(0.4, 1.0, k as f64 / len);
                (hw0 * fade, contrast0 * fade)
            })
            .unzip();
        lines.push(Line { pts, hw, contrast });
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ScarKind {
    /// Narrow and deep: a dark centre.
    IcePick,
    /// Flat floor, sharp walls.
    Boxcar,
    /// Wide, shallow, soft edges.
    Rolling,
    /// Raised, lighter and pinker, lit on the side facing the light.
    Hypertrophic,
    /// A long band, lighter (old, white) or pinker (new, red); comes in parallel groups.
    StretchMark,
}

/// A scar of `kind` without its place (centre at the origin).
fn shape(rng: &mut ChaCha8Rng, kind: ScarKind, ppm: f64) -> Scar {
    use ScarKind::*;
    let (radius_mm, wobble_max, blend_mm) = match kind {
        IcePick => (rng.random_range(0.2..0.5), 0.08, 0.04),
        Boxcar => (rng.random_range(0.75..2.0), 0.12, 0.03),
        Rolling => (rng.random_range(1.5..3.5), 0.2, 0.35),
        Hypertrophic => (rng.random_range(1.0..3.0), 0.15, 0.1),
        StretchMark => (rng.random_range(0.4..1.5), 0.05, 0.1),
    };
    let radius = (radius_mm * ppm).max(1.5);
    let nh = rng.random_range(2..=4);
    let harmonics: Vec<(f64, f64, f64)> = (0..nh)
        .map(|_| {
            let f = rng.random_range(2..=8) as f64;
            (
                rng.random_range(0.0..wobble_max) / f.sqrt(),
                f,
                rng.random_range(0.0..std::f64::consts::TAU),
            )
        })
        .collect();
    let wobble: f64 = harmonics.iter().map(|h| h.0).sum();
    let angle = rng.random_range(0.0..std::f64::consts::PI);
    let (elong, tone, core, pink, shade, wall_from) = match kind {
        IcePick => (
            1.0,
            rng.random_range(-0.12..-0.05),
            rng.random_range(-0.5..-0.25),
            0.0,
            rng.random_range(0.15..0.3),
            0.0,
        ),
        Boxcar => (
            1.0,
            rng.random_range(-0.1..-0.03),
            0.0,
            0.0,
            rng.random_range(0.15..0.3),
            0.75,
        ),
        Rolling => (
            1.0,
            rng.random_range(-0.06..-0.02),
            rng.random_range(-0.05..-0.02),
            0.0,
            rng.random_range(0.05..0.12),
            0.0,
        ),
        Hypertrophic => (
            rng.random_range(1.0..2.5),
            rng.random_range(0.03..0.1),
            0.0,
            rng.random_range(0.06..0.18),
            -rng.random_range(0.08..0.18),
            0.4,
        ),
        StretchMark => {
            let half_len = rng.random_range(4.0..15.0) * ppm;
            let elong = (half_len / radius).clamp(4.0, 30.0);
            if rng.random_bool(0.5) {
                // Striae albae: lighter than the skin around.
                let tone = rng.random_range(0.04..0.12);
                (elong, tone, 0.0, rng.random_range(0.0..0.03), 0.03, 0.5)
            } else {
                // Striae rubrae: pink to violet.
                let tone = rng.random_range(-0.02..0.03);
                (elong, tone, 0.0, rng.random_range(0.12..0.25), 0.03, 0.5)
            }
        }
    };
    Scar {
        centre: [0.0, 0.0],
        radius,
        harmonics,
        r_max: radius * (1.0 + wobble),
        axis: [angle.cos(), angle.sin()],
        elong,
        tone,
        core,
        pink,
        shade,
        wall_from,
        blend: (blend_mm * ppm).max(0.6),
        seed: rng.random(),
        mottle_scale: rng.random_range(0.3..0.8) * ppm,
    }
}

/// Points along a scar's long axis such that circles of radius `r_max` around them cover it
/// (just the centre for a round scar).
fn spine(s: &Scar) -> Vec<[f64; 2]> {
    let half = s.bound(1.0) - s.r_max;
    let n = (half / s.r_max.max(1.0)).ceil() as usize;
    (0..=2 * n)
        .map(|i| {
            let t = if n == 0 {
                0.0
            } else {
                half * (i as f64 / n as f64 - 1.0)
            };
            [s.centre[0] + t * s.axis[0], s.centre[1] + t * s.axis[1]]
        })
        .collect()
}

/// Whether `s` (placed) lies inside `bx` and apart from every scar in `others`.
fn fits(s: &Scar, bx: [f64; 4], others: &[Scar]) -> bool {
    let pts = spine(s);
    let m = s.r_max + s.blend + 1.0;
    let inside = pts
        .iter()
        .all(|p| p[0] - m >= bx[0] && p[0] + m <= bx[2] && p[1] - m >= bx[1] && p[1] + m <= bx[3]);
    inside
        && others.iter().all(|o| {
            let gap = o.r_max + o.blend + s.r_max + s.blend + 2.0;
            spine(o)
                .iter()
                .all(|q| pts.iter().all(|p| (p[0] - q[0]).hypot(p[1] - q[1]) > gap))
        })
}

/// Adds scars of the other kinds to some worlds: each kind present or not, counts scaled by
/// `density` (the share of the default frame's skin in view), never beyond [`MAX_SCARS`].
pub(super) fn add_scars(
    rng: &mut ChaCha8Rng,
    scars: &mut Vec<Scar>,
    bx: [f64; 4],
    ppm: f64,
    density: f64,
) {
    use ScarKind::*;
    let kinds = [
        (IcePick, 0.5, 2..=10),
        (Boxcar, 0.45, 1..=5),
        (Rolling, 0.4, 1..=4),
        (Hypertrophic, 0.25, 1..=2),
    ];
    for (kind, p_present, range) in kinds {
        if !rng.random_bool(p_present) {
            continue;
        }
        let n = ((rng.random_range(range) as f64 * density).round() as usize).max(1);
        for _ in 0..n {
            if scars.len() >= MAX_SCARS {
                return;
            }
            let mut s = shape(rng, kind, ppm);
            for _ in 0..30 {
                s.centre = [
                    rng.random_range(bx[0]..bx[2]),
                    rng.random_range(bx[1]..bx[3]),
                ];
                if fits(&s, bx, scars) {
                    scars.push(s);
                    break;
                }
            }
        }
    }
    if rng.random_bool(0.3) {
        add_stretch_marks(rng, scars, bx, ppm);
    }
}

/// A group of 3–7 roughly parallel stretch marks.
fn add_stretch_marks(rng: &mut ChaCha8Rng, scars: &mut Vec<Scar>, bx: [f64; 4], ppm: f64) {
    let angle = rng.random_range(0.0..std::f64::consts::PI);
    let n = rng.random_range(3..=7);
    // Long bands, but short enough that a group fits in a small frame.
    let max_half_len = 0.35 * (bx[2] - bx[0]).min(bx[3] - bx[1]);
    let spacing = rng.random_range(2.5..6.0) * ppm;
    let centre = [
        rng.random_range(bx[0]..bx[2]),
        rng.random_range(bx[1]..bx[3]),
    ];
    let (ax, ay) = (angle.cos(), angle.sin());
    for j in 0..n {
        if scars.len() >= MAX_SCARS {
            return;
        }
        let mut s = shape(rng, ScarKind::StretchMark, ppm);
        s.elong = s.elong.min(max_half_len / s.r_max).max(1.0);
        let tilt = angle + rng.random_range(-0.08..0.08);
        s.axis = [tilt.cos(), tilt.sin()];
        let across = (j as f64 - 0.5 * (n - 1) as f64) * spacing;
        let along = rng.random_range(-3.0..3.0) * ppm;
        s.centre = [
            centre[0] + along * ax - across * ay,
            centre[1] + along * ay + across * ax,
        ];
        if fits(&s, bx, scars) {
            scars.push(s);
        }
    }
}

/// Round spots on a jittered grid (like pores, bigger and sparser): any pixel looks at its
/// own and the eight neighbouring cells only.
struct SpotField {
    salt: u64,
    cell: f64,
    prob: f64,
    radius: (f64, f64),
    strength: (f64, f64),
    /// Edge irregularity (share of the radius).
    ragged: f64,
}

impl SpotField {
    fn draw(rng: &mut ChaCha8Rng, ppm: f64, cell_mm: (f64, f64), radius_mm: (f64, f64)) -> Self {
        let r0 = rng.random_range(radius_mm.0..radius_mm.1);
        SpotField {
            salt: rng.random(),
            cell: rng.random_range(cell_mm.0..cell_mm.1) * ppm,
            prob: rng.random_range(0.2..0.6),
            radius: (r0 * ppm * 0.6, r0 * ppm * 1.4),
            strength: (rng.random_range(0.3..0.6), rng.random_range(0.7..1.0)),
            ragged: rng.random_range(0.0..0.3),
        }
    }

    /// The strongest spot at (x, y): its weight (0..1, soft edge) and the offset from its
    /// centre in radii.
    fn at(&self, x: f64, y: f64) -> (f64, [f64; 2]) {
        let c = self.cell;
        let (ci, cj) = ((x / c).floor() as i64, (y / c).floor() as i64);
        let mut best = (0.0, [0.0, 0.0]);
        for j in cj - 1..=cj + 1 {
            for i in ci - 1..=ci + 1 {
                let h = hash2(self.salt, i, j);
                if unit16(h, 48) >= self.prob {
                    continue;
                }
                let px = (i as f64 + unit16(h, 0)) * c;
                let py = (j as f64 + unit16(h, 16)) * c;
                let r = self.radius.0 + (self.radius.1 - self.radius.0) * unit16(h, 32);
                let (dx, dy) = ((x - px) / r, (y - py) / r);
                let d2 = dx * dx + dy * dy;
                if d2 >= 2.25 {
                    continue;
                }
                let edge = 1.0 + self.ragged * noise::value(h, x / (0.6 * r), y / (0.6 * r));
                let k = self.strength.0
                    + (self.strength.1 - self.strength.0) * unit16(h.rotate_left(8), 48);
                let w = k * (1.0 - smoothstep(0.5 * edge, edge, d2.sqrt()));
                if w > best.0 {
                    best = (w, [dx, dy]);
                }
            }
        }
        best
    }
}

/// Short faint hairs on a jittered grid, mostly along one direction.
struct Vellus {
    salt: u64,
    cell: f64,
    prob: f64,
    length: f64,
    grain: f64,
    /// Relative brightness change on the hair (negative: darker).
    contrast: f64,
}

impl Vellus {
    /// Coverage (0..1) of the nearest hair at (x, y), times its contrast.
    fn at(&self, x: f64, y: f64) -> f64 {
        let c = self.cell;
        let (ci, cj) = ((x / c).floor() as i64, (y / c).floor() as i64);
        let mut best = 0.0f64;
        for j in cj - 1..=cj + 1 {
            for i in ci - 1..=ci + 1 {
                let h = hash2(self.salt, i, j);
                if unit16(h, 48) >= self.prob {
                    continue;
                }
                let a = [
                    (i as f64 + unit16(h, 0)) * c,
                    (j as f64 + unit16(h, 16)) * c,
                ];
                let angle = self.grain + 0.8 * (unit16(h, 32) - 0.5);
                let len = self.length * (0.5 + unit16(h.rotate_left(8), 48));
                let b = [a[0] + len * angle.cos(), a[1] + len * angle.sin()];
                let (d, t) = seg_dist([x, y], a, b);
                let cover = (1.0 - smoothstep(0.2, 0.8, d)) * (1.0 - 0.6 * t);
                best = best.max(cover);
            }
        }
        best * self.contrast
    }
}

/// Look-alikes of one world: each kind present in some worlds only, like real skin.
pub(super) struct LookAlikes {
    pigment: Option<SpotField>,
    papules: Option<SpotField>,
    red_marks: Option<SpotField>,
    vellus: Option<Vellus>,
    hairs: Vec<Line>,
    hair_grid: SegGrid,
    hair_rgb: [f64; 3],
    shine: f64,
    shine_salt: u64,
    shine_scale: f64,
}

impl LookAlikes {
    /// Draws the look-alikes over a `frame` (width, height in pixels) at `ppm`.
    pub(super) fn draw(rng: &mut ChaCha8Rng, ppm: f64, frame: [f64; 2]) -> LookAlikes {
        let pigment = rng
            .random_bool(0.5)
            .then(|| SpotField::draw(rng, ppm, (2.5, 6.0), (0.3, 1.5)));
        let papules = rng
            .random_bool(0.4)
            .then(|| SpotField::draw(rng, ppm, (4.0, 10.0), (0.6, 2.0)));
        let red_marks = rng
            .random_bool(0.45)
            .then(|| SpotField::draw(rng, ppm, (4.0, 10.0), (1.0, 3.0)));
        let vellus = rng.random_bool(0.6).then(|| Vellus {
            salt: rng.random(),
            cell: rng.random_range(0.6..1.2) * ppm,
            prob: rng.random_range(0.3..0.7),
            length: rng.random_range(0.6..2.0) * ppm,
            grain: rng.random_range(0.0..std::f64::consts::TAU),
            contrast: rng.random_range(0.04..0.12) * if rng.random_bool(0.7) { -1.0 } else { 1.0 },
        });
        let n_hairs = if rng.random_bool(0.35) {
            rng.random_range(1..=6)
        } else {
            0
        };
        let hairs: Vec<Line> = (0..n_hairs).map(|_| hair(rng, ppm, frame)).collect();
        let hair_rgb = if rng.random_bool(0.75) {
            let k = rng.random_range(0.05..0.2);
            [k * 1.3, k, k * 0.8]
        } else {
            // Grey or fair hair.
            let k = rng.random_range(0.5..0.75);
            [k, k * 0.95, k * 0.85]
        };
        let max_hw = hairs
            .iter()
            .flat_map(|l| l.hw.iter().copied())
            .fold(0.0, f64::max);
        let margin = max_hw + 2.0;
        let hair_grid = SegGrid::build(&hairs, [0.0, 0.0, frame[0], frame[1]], margin, 32.0);
        let shine = if rng.random_bool(0.4) {
            rng.random_range(0.15..0.4)
        } else {
            0.0
        };
        LookAlikes {
            pigment,
            papules,
            red_marks,
            vellus,
            hairs,
            hair_grid,
            hair_rgb,
            shine,
            shine_salt: rng.random(),
            shine_scale: rng.random_range(4.0..12.0) * ppm,
        }
    }

    fn shine_at(&self, x: f64, y: f64) -> f64 {
        if self.shine == 0.0 {
            return 0.0;
        }
        let f = fbm(
            self.shine_salt,
            x / self.shine_scale,
            y / self.shine_scale,
            3,
        );
        self.shine * smoothstep(0.15, 0.6, f)
    }

    /// Coverage (0..1) of the terminal hair nearest (x, y).
    fn hair_at(&self, x: f64, y: f64) -> f64 {
        let mut cover = 0.0f64;
        for &(l, s) in self.hair_grid.query(x, y) {
            let line = &self.hairs[l as usize];
            let s = s as usize;
            let (d, t) = seg_dist([x, y], line.pts[s], line.pts[s + 1]);
            let hw = line.hw[s] + t * (line.hw[s + 1] - line.hw[s]);
            // Thinner than a pixel: spread over one pixel, fainter.
            let c = (1.0 - smoothstep(hw - 0.5, hw + 0.5, d)) * (2.0 * hw).min(1.0);
            cover = cover.max(c * line.contrast[s]);
        }
        cover
    }

    /// `c` (a pixel's colour of skin and lesions at `centre`) with the look-alikes over it,
    /// and which look-alike (if any) the pixel shows: hair over acne over pigment over shine.
    /// Each look-alike is evaluated once for both.
    pub(super) fn over(&self, c: [f64; 3], skin: &Skin, centre: [f64; 2]) -> ([f64; 3], u8) {
        let [x, y] = centre;
        let spot = |f: &Option<SpotField>| f.as_ref().map_or((0.0, [0.0, 0.0]), |f| f.at(x, y));
        let mut out = c;
        let (pigment, _) = spot(&self.pigment);
        // Melanin: darker, browner (blue absorbed most).
        out = [
            out[0] * (1.0 - 0.16 * pigment),
            out[1] * (1.0 - 0.24 * pigment),
            out[2] * (1.0 - 0.34 * pigment),
        ];
        let (red_mark, _) = spot(&self.red_marks);
        out = [
            out[0] * (1.0 + 0.02 * red_mark),
            out[1] * (1.0 - 0.2 * red_mark),
            out[2] * (1.0 - 0.12 * red_mark),
        ];
        let (papule, off) = spot(&self.papules);
        // A red dome lit from one side: the side towards the light is brighter.
        let towards = off[0] * skin.light[0] + off[1] * skin.light[1];
        let lit = 1.0 + 0.15 * papule * towards;
        out = [
            out[0] * (1.0 + 0.03 * papule) * lit,
            out[1] * (1.0 - 0.25 * papule) * lit,
            out[2] * (1.0 - 0.15 * papule) * lit,
        ];
        if let Some(v) = &self.vellus {
            let k = v.at(x, y);
            out = out.map(|o| {
                if k < 0.0 {
                    o * (1.0 + k)
                } else {
                    o + (1.0 - o) * k
                }
            });
        }
        let shine = self.shine_at(x, y);
        if shine > 0.0 {
            out = out.map(|o| o + (1.0 - o.min(1.0)) * 0.45 * shine);
        }
        let hair = self.hair_at(x, y);
        if hair > 0.0 {
            for (o, &h) in out.iter_mut().zip(&self.hair_rgb) {
                *o = *o * (1.0 - hair) + h * hair;
            }
        }
        let code = if hair > 0.3 {
            LOOK_HAIR
        } else if papule > SPOT_SHOWN || red_mark > SPOT_SHOWN {
            LOOK_ACNE
        } else if pigment > SPOT_SHOWN {
            LOOK_PIGMENT
        } else if shine > 0.1 {
            LOOK_SHINE
        } else {
            LOOK_NONE
        };
        (out, code)
    }
}

/// A terminal hair: a long gently curving dark strand anywhere in the frame.
fn hair(rng: &mut ChaCha8Rng, ppm: f64, frame: [f64; 2]) -> Line {
    let target = rng.random_range(8.0..40.0) * ppm;
    let hw0 = (rng.random_range(0.025..0.05) * ppm).max(0.4);
    let mut p = [
        rng.random_range(0.0..frame[0]),
        rng.random_range(0.0..frame[1]),
    ];
    let mut heading = rng.random_range(0.0..std::f64::consts::TAU);
    let bend = rng.random_range(-1.0..1.0) / (8.0 * ppm);
    let opacity = rng.random_range(0.6..0.95);
    let mut pts = vec![p];
    while (pts.len() as f64) < target {
        heading += bend;
        p = [p[0] + heading.cos(), p[1] + heading.sin()];
        if p[0] < -10.0 || p[1] < -10.0 || p[0] > frame[0] + 10.0 || p[1] > frame[1] + 10.0 {
            break;
        }
        pts.push(p);
    }
    if pts.len() < 2 {
        pts.push([p[0] + 1.0, p[1]]);
    }
    let n = pts.len();
    let hw = (0..n)
        .map(|k| hw0 * (1.0 - 0.5 * smoothstep(0.7, 1.0, k as f64 / n as f64)))
        .collect();
    Line {
        pts,
        hw,
        contrast: vec![opacity; n],
    }
}
