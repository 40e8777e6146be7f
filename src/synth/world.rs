//! The skin "world": skin, fine lines and scars as functions of continuous baseline-frame
//! coordinates (pixels). Every session photo and label map is rendered by evaluating it, so
//! warps are exact and labels are the geometric truth.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::clinical::{self, LookAlikes};
use super::noise::{self, fbm, hash2, smoothstep, unit16};

/// At most this many scars, so a pixel can list the nearby ones on the stack.
pub(super) const MAX_SCARS: usize = 40;
/// The core of a line's darkening falls from full at `INNER` half-widths to nothing at
/// `OUTER` half-widths, so the label edge (one half-width) is where it is half.
const LINE_INNER: f64 = 0.3;
const LINE_OUTER: f64 = 1.7;
/// A faint shadow and highlight reach this many half-widths from the centreline.
const LINE_REACH: f64 = 3.0;

/// Skin appearance: a base colour with smooth and fine variation, pores and micro-furrows.
pub(super) struct Skin {
    /// Base colour, sRGB in 0..1.
    pub base: [f64; 3],
    seed: u64,
    low_scale: f64,
    low_amp: f64,
    red_amp: f64,
    tex_scale: f64,
    tex_amp: f64,
    pore_cell: f64,
    pore_prob: f64,
    pore_radius: (f64, f64),
    pore_strength: f64,
    furrow_cell: f64,
    furrow_width: f64,
    furrow_amp: f64,
    grad: [f64; 2],
    centre: [f64; 2],
    /// Unit direction the light comes from (in the image plane).
    pub(super) light: [f64; 2],
}

/// The parts of the skin at one point that lesions modify differently.
struct SkinSample {
    /// Colour with the smooth variations (sRGB 0..1).
    low: [f64; 3],
    /// Relative brightness change of fine texture and furrows.
    detail: f64,
    /// Pore darkening, 0..1.
    pore: f64,
}

/// A fine line: a smooth centreline with half-width and contrast per vertex.
pub(super) struct Line {
    pub pts: Vec<[f64; 2]>,
    /// Half-width in baseline pixels at session 0.
    pub hw: Vec<f64>,
    /// Relative darkening at the centre at session 0, 0..1.
    pub contrast: Vec<f64>,
}

/// A scar: a star-shaped blob (radius varies smoothly with the angle), stretched along
/// `axis` by `elong` (stretch marks), depressed (atrophic) or raised (hypertrophic).
pub(super) struct Scar {
    pub centre: [f64; 2],
    /// Radius across the long axis at scale 1.
    pub radius: f64,
    /// (amplitude, frequency, phase) of the radius harmonics.
    pub(super) harmonics: Vec<(f64, f64, f64)>,
    /// Largest radius at scale 1, across the long axis.
    pub r_max: f64,
    /// Unit direction of the long axis and the stretch along it (1: round).
    pub(super) axis: [f64; 2],
    pub(super) elong: f64,
    /// Relative brightness of the floor (negative: darker).
    pub(super) tone: f64,
    /// Extra darkening (negative) or lightening at the centre, fading to the rim: the
    /// depth of an ice-pick pit.
    pub(super) core: f64,
    pub(super) pink: f64,
    /// Strength of the wall shading; negative for a raised scar (its wall towards the light
    /// is lit instead of shadowed).
    pub(super) shade: f64,
    /// Where the walls start, as a share of the radius: sharp walls (boxcar) start late.
    pub(super) wall_from: f64,
    /// Width of the soft edge in pixels (each side of the boundary).
    pub(super) blend: f64,
    pub(super) seed: u64,
    pub(super) mottle_scale: f64,
}

/// How one session shows the lesions (the treatment effect): per-line width and contrast
/// factors, per-scar radius scale and strength.
pub(super) struct Lesions {
    pub line_width: Vec<f64>,
    pub line_contrast: Vec<f64>,
    pub scar_scale: Vec<f64>,
    pub scar_strength: Vec<f64>,
}

/// Uniform grid of line segments for fast "which segments are near this point" queries.
pub(super) struct SegGrid {
    cell: f64,
    origin: [f64; 2],
    nx: usize,
    ny: usize,
    cells: Vec<Vec<(u32, u32)>>,
}

/// Everything in the baseline frame that does not change between sessions.
pub(super) struct World {
    pub skin: Skin,
    pub lines: Vec<Line>,
    pub scars: Vec<Scar>,
    grid: SegGrid,
    /// Look-alikes labelled skin (clinical variety only).
    pub look_alikes: Option<LookAlikes>,
}

/// CIELAB (D65) to sRGB in 0..1 (clamped).
pub(super) fn lab_to_srgb(l: f64, a: f64, b: f64) -> [f64; 3] {
    let fy = (l + 16.0) / 116.0;
    let (fx, fz) = (fy + a / 500.0, fy - b / 200.0);
    let finv = |t: f64| {
        if t > 6.0 / 29.0 {
            t * t * t
        } else {
            3.0 * (6.0f64 / 29.0).powi(2) * (t - 4.0 / 29.0)
        }
    };
    let (x, y, z) = (0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz));
    let lin = [
        3.2404542 * x - 1.5371385 * y - 0.4985314 * z,
        -0.9692660 * x + 1.8760108 * y + 0.0415560 * z,
        0.0556434 * x - 0.2040259 * y + 1.0572252 * z,
    ];
    lin.map(|c| linear_to_srgb(c.clamp(0.0, 1.0)))
}

/// sRGB (0..255) to CIELAB (D65).
pub(super) fn srgb_to_lab(rgb: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(|c| srgb_to_linear(c as f64 / 255.0));
    let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    let f = |t: f64| {
        if t > (6.0f64 / 29.0).powi(3) {
            t.cbrt()
        } else {
            t / (3.0 * (6.0f64 / 29.0).powi(2)) + 4.0 / 29.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

pub(super) fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

pub(super) fn linear_to_srgb(c: f64) -> f64 {
    if c <= 0.0031308 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

impl Skin {
    fn draw(rng: &mut ChaCha8Rng, base: [f64; 3], ppm: f64, width: u32, height: u32) -> Skin {
        let tilt = rng.random_range(0.0..std::f64::consts::TAU);
        // Brightness changes by up to ~8% across the frame's half-diagonal.
        let half_diag = 0.5 * (width as f64).hypot(height as f64).max(1.0);
        let g = rng.random_range(0.0..0.08) / half_diag;
        let r0 = rng.random_range(0.035..0.05) * ppm;
        // Light from somewhere above, as in most photos (pits then read as pits).
        let light = rng.random_range(-160.0..-20.0f64).to_radians();
        Skin {
            base,
            seed: rng.random(),
            low_scale: rng.random_range(5.0..12.0) * ppm,
            low_amp: rng.random_range(0.03..0.08),
            red_amp: rng.random_range(0.01..0.03),
            tex_scale: rng.random_range(0.15..0.35) * ppm,
            tex_amp: rng.random_range(0.025..0.055),
            pore_cell: rng.random_range(0.3..0.5) * ppm,
            pore_prob: rng.random_range(0.4..0.8),
            pore_radius: (r0, r0 * 1.6),
            pore_strength: rng.random_range(0.08..0.2),
            furrow_cell: rng.random_range(0.5..1.0) * ppm,
            furrow_width: rng.random_range(0.05..0.1) * ppm,
            furrow_amp: rng.random_range(0.02..0.05),
            grad: [g * tilt.cos(), g * tilt.sin()],
            centre: [0.5 * (width as f64 - 1.0), 0.5 * (height as f64 - 1.0)],
            light: [light.cos(), light.sin()],
        }
    }

    fn sample(&self, x: f64, y: f64) -> SkinSample {
        let s = self.seed;
        let (lx, ly) = (x / self.low_scale, y / self.low_scale);
        let bright = 1.0
            + self.low_amp * fbm(s, lx, ly, 3)
            + self.grad[0] * (x - self.centre[0])
            + self.grad[1] * (y - self.centre[1]);
        let red = self.red_amp * fbm(s ^ 0xAB, lx * 0.7, ly * 0.7, 2);
        let low = [
            self.base[0] * bright * (1.0 + red),
            self.base[1] * bright * (1.0 - 0.6 * red),
            self.base[2] * bright * (1.0 - 0.4 * red),
        ];
        let tex = self.tex_amp * fbm(s ^ 0x7E, x / self.tex_scale, y / self.tex_scale, 2);
        let furrow = self.furrow_amp
            * (0.6 + 0.4 * fbm(s ^ 0x3C, lx * 2.0, ly * 2.0, 1))
            * self.furrow(x, y);
        SkinSample {
            low,
            detail: tex - furrow,
            pore: self.pore(x, y),
        }
    }

    /// Darkening by the nearest pores (soft round dots on a jittered grid).
    fn pore(&self, x: f64, y: f64) -> f64 {
        let c = self.pore_cell;
        let (ci, cj) = ((x / c).floor() as i64, (y / c).floor() as i64);
        let mut dark = 0.0f64;
        for j in cj - 1..=cj + 1 {
            for i in ci - 1..=ci + 1 {
                // One hash gives presence, position, size and strength (16 bits each).
                let h = hash2(self.seed ^ 0x9051, i, j);
                if unit16(h, 48) >= self.pore_prob {
                    continue;
                }
                let px = (i as f64 + 0.1 + 0.8 * unit16(h, 0)) * c;
                let py = (j as f64 + 0.1 + 0.8 * unit16(h, 16)) * c;
                let (r0, r1) = self.pore_radius;
                let r = r0 + (r1 - r0) * unit16(h, 32);
                let d2 = (x - px).powi(2) + (y - py).powi(2);
                if d2 < 9.0 * r * r {
                    let k = self.pore_strength * (0.4 + 0.6 * unit16(h.rotate_left(8), 48));
                    dark = dark.max(k * (-d2 / (r * r)).exp());
                }
            }
        }
        dark
    }

    /// Micro-furrows: 1 on the edges of a jittered Voronoi pattern, 0 inside its cells.
    fn furrow(&self, x: f64, y: f64) -> f64 {
        let c = self.furrow_cell;
        let (ci, cj) = ((x / c).floor() as i64, (y / c).floor() as i64);
        let (mut f1, mut f2) = (f64::MAX, f64::MAX);
        for j in cj - 1..=cj + 1 {
            for i in ci - 1..=ci + 1 {
                let h = hash2(self.seed ^ 0xF0F0, i, j);
                let px = (i as f64 + unit16(h, 0)) * c;
                let py = (j as f64 + unit16(h, 16)) * c;
                let d = (x - px).hypot(y - py);
                if d < f1 {
                    f2 = f1;
                    f1 = d;
                } else if d < f2 {
                    f2 = d;
                }
            }
        }
        1.0 - smoothstep(0.0, self.furrow_width, f2 - f1)
    }
}

impl Scar {
    /// Distance from the centre (along the long axis divided by the stretch), the boundary
    /// radius in that direction and the direction's angle, all in the frame compressed along
    /// the long axis (for round scars: the image's).
    #[inline]
    fn polar(&self, scale: f64, x: f64, y: f64) -> (f64, f64, f64) {
        let (mut dx, mut dy) = (x - self.centre[0], y - self.centre[1]);
        if self.elong != 1.0 {
            let [ax, ay] = self.axis;
            let along = (dx * ax + dy * ay) / self.elong;
            let across = -dx * ay + dy * ax;
            (dx, dy) = (along * ax - across * ay, along * ay + across * ax);
        }
        let theta = dy.atan2(dx);
        let wobble: f64 = self
            .harmonics
            .iter()
            .map(|&(a, f, p)| a * (f * theta + p).cos())
            .sum();
        (dx.hypot(dy), self.radius * scale * (1.0 + wobble), theta)
    }

    /// Radius of a circle around the centre that holds the whole scar at `scale`.
    #[inline]
    pub(super) fn bound(&self, scale: f64) -> f64 {
        self.r_max * self.elong * scale
    }

    /// Whether (x, y) is inside the scar at `scale` (the label).
    pub(super) fn contains(&self, scale: f64, x: f64, y: f64) -> bool {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        if dx * dx + dy * dy > self.bound(scale).powi(2) {
            return false;
        }
        let (d, r, _) = self.polar(scale, x, y);
        d <= r
    }
}

impl SegGrid {
    pub(super) fn build(lines: &[Line], bounds: [f64; 4], margin: f64, cell: f64) -> SegGrid {
        let origin = [bounds[0] - margin, bounds[1] - margin];
        let nx = (((bounds[2] - bounds[0] + 2.0 * margin) / cell).ceil() as usize).max(1);
        let ny = (((bounds[3] - bounds[1] + 2.0 * margin) / cell).ceil() as usize).max(1);
        let mut cells = vec![Vec::new(); nx * ny];
        for (l, line) in lines.iter().enumerate() {
            for (s, w) in line.pts.windows(2).enumerate() {
                let lo = [w[0][0].min(w[1][0]) - margin, w[0][1].min(w[1][1]) - margin];
                let hi = [w[0][0].max(w[1][0]) + margin, w[0][1].max(w[1][1]) + margin];
                let i0 = (((lo[0] - origin[0]) / cell).floor().max(0.0) as usize).min(nx - 1);
                let i1 = (((hi[0] - origin[0]) / cell).floor().max(0.0) as usize).min(nx - 1);
                let j0 = (((lo[1] - origin[1]) / cell).floor().max(0.0) as usize).min(ny - 1);
                let j1 = (((hi[1] - origin[1]) / cell).floor().max(0.0) as usize).min(ny - 1);
                for j in j0..=j1 {
                    for i in i0..=i1 {
                        cells[j * nx + i].push((l as u32, s as u32));
                    }
                }
            }
        }
        SegGrid {
            cell,
            origin,
            nx,
            ny,
            cells,
        }
    }

    pub(super) fn query(&self, x: f64, y: f64) -> &[(u32, u32)] {
        let (fx, fy) = (
            (x - self.origin[0]) / self.cell,
            (y - self.origin[1]) / self.cell,
        );
        if !(fx >= 0.0 && fy >= 0.0) {
            return &[];
        }
        let (i, j) = (fx as usize, fy as usize);
        if i >= self.nx || j >= self.ny {
            return &[];
        }
        &self.cells[j * self.nx + i]
    }
}

/// Distance from p to segment ab and the position along it (0..1).
#[inline]
pub(super) fn seg_dist(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> (f64, f64) {
    let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
    let len2 = ex * ex + ey * ey;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * ex + (p[1] - a[1]) * ey) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((p[0] - a[0] - t * ex).hypot(p[1] - a[1] - t * ey), t)
}

/// How many lesions of a kind to draw: none now and then, otherwise a count from `range`
/// scaled down for frames that show less skin than the default 1600×1200 at 20 px/mm.
fn lesion_count(
    rng: &mut ChaCha8Rng,
    p_none: f64,
    range: std::ops::RangeInclusive<usize>,
    density: f64,
) -> usize {
    if rng.random_bool(p_none) {
        return 0;
    }
    let n = rng.random_range(range) as f64 * density;
    (n.round() as usize).max(1)
}

impl World {
    /// Draws a world for a `width`×`height` baseline frame at `ppm` pixels per mm, with
    /// lesions only inside the frame less `margin` (a share of each side).
    /// With `clinical` (a random source of its own, so the plain world stays the same), the
    /// world also gets the clinical variety: branching lines, more scar kinds, stretch marks
    /// and look-alikes.
    pub(super) fn draw(
        rng: &mut ChaCha8Rng,
        base: [f64; 3],
        (width, height): (u32, u32),
        ppm: f64,
        margin: f64,
        clinical: Option<&mut ChaCha8Rng>,
    ) -> World {
        let (w, h) = (width as f64, height as f64);
        let lesion_box = [
            margin * w,
            margin * h,
            (1.0 - margin) * w - 1.0,
            (1.0 - margin) * h - 1.0,
        ];
        let skin = Skin::draw(rng, base, ppm, width, height);
        let (bw, bh) = (lesion_box[2] - lesion_box[0], lesion_box[3] - lesion_box[1]);
        // Visible skin relative to the default frame's lesion area (51 × 38 mm).
        let density = ((bw * bh) / (ppm * ppm) / (51.2 * 38.4))
            .sqrt()
            .clamp(0.3, 1.0);
        let scar_blend = (0.15 * ppm).max(1.0);
        let mut lines = Vec::new();
        let mut scars = Vec::new();
        if bw >= 8.0 && bh >= 8.0 {
            let n_lines = lesion_count(rng, 0.1, 6..=20, density);
            let grain = rng.random_range(0.0..std::f64::consts::PI);
            for _ in 0..n_lines {
                if let Some(line) = draw_line(rng, lesion_box, ppm, grain) {
                    lines.push(line);
                }
            }
            let n_scars = lesion_count(rng, 0.12, 4..=12, density).min(MAX_SCARS);
            for _ in 0..n_scars {
                if let Some(scar) = draw_scar(rng, lesion_box, ppm, scar_blend, &scars) {
                    scars.push(scar);
                }
            }
        }
        let mut look_alikes = None;
        if let Some(crng) = clinical {
            if bw >= 8.0 && bh >= 8.0 {
                clinical::add_branches(crng, &mut lines, lesion_box, ppm);
                clinical::add_scars(crng, &mut scars, lesion_box, ppm, density);
            }
            look_alikes = Some(LookAlikes::draw(crng, ppm, [w, h]));
        }
        let max_hw = lines
            .iter()
            .flat_map(|l| l.hw.iter().copied())
            .fold(0.0, f64::max);
        // Reach of a line's darkening plus the supersampling offsets (under 1 px).
        let margin = LINE_REACH * max_hw + 2.0;
        let grid = SegGrid::build(&lines, lesion_box, margin, (4.0 * margin).max(16.0));
        World {
            skin,
            lines,
            scars,
            grid,
            look_alikes,
        }
    }

    /// The label at a baseline-frame point: scars override lines.
    pub(super) fn label(&self, les: &Lesions, x: f64, y: f64) -> u8 {
        if self
            .scars
            .iter()
            .zip(&les.scar_scale)
            .any(|(s, &k)| s.contains(k, x, y))
        {
            return crate::definitions::CLASS_SCAR;
        }
        for &(l, s) in self.grid.query(x, y) {
            let (l, s) = (l as usize, s as usize);
            let line = &self.lines[l];
            let (d, t) = seg_dist([x, y], line.pts[s], line.pts[s + 1]);
            let hw = (line.hw[s] + t * (line.hw[s + 1] - line.hw[s])) * les.line_width[l];
            if d <= hw {
                return crate::definitions::CLASS_LINE;
            }
        }
        crate::definitions::CLASS_BACKGROUND
    }

    /// The colour (sRGB 0..1, before camera effects) of a pixel centred at `centre`, averaged
    /// over the sub-sample points `subs` where lesions are near, and the look-alike it shows
    /// (`clinical::LOOK_*`; none without the clinical variety).
    pub(super) fn colour(
        &self,
        les: &Lesions,
        centre: [f64; 2],
        subs: &[[f64; 2]],
    ) -> ([f64; 3], u8) {
        let c = self.lesion_colour(les, centre, subs);
        match &self.look_alikes {
            Some(l) => l.over(c, &self.skin, centre),
            None => (c, clinical::LOOK_NONE),
        }
    }

    /// The colour of skin, lines and scars only.
    fn lesion_colour(&self, les: &Lesions, centre: [f64; 2], subs: &[[f64; 2]]) -> [f64; 3] {
        let skin = self.skin.sample(centre[0], centre[1]);
        let segs = self.grid.query(centre[0], centre[1]);
        let mut near = [0usize; MAX_SCARS];
        let mut n_near = 0;
        for (i, s) in self.scars.iter().enumerate() {
            let reach = s.bound(les.scar_scale[i]) + s.blend + 2.0;
            if (centre[0] - s.centre[0]).powi(2) + (centre[1] - s.centre[1]).powi(2) < reach * reach
            {
                near[n_near] = i;
                n_near += 1;
            }
        }
        let plain = |m: f64, scar: [f64; 3], dark: f64| -> [f64; 3] {
            let tex = 1.0 + skin.detail * (1.0 - 0.75 * m);
            let pore = 1.0 - skin.pore * (1.0 - 0.85 * m);
            let line = 1.0 - dark * (1.0 - m);
            [0, 1, 2].map(|c| skin.low[c] * tex * pore * scar[c] * line)
        };
        if segs.is_empty() && n_near == 0 {
            return plain(0.0, [1.0; 3], 0.0);
        }
        let mut sum = [0.0; 3];
        for &p in subs {
            // The scar most present here decides the scar look.
            let (mut m, mut scar) = (0.0f64, [1.0; 3]);
            for &i in &near[..n_near] {
                let s = &self.scars[i];
                let (d, r, theta) = s.polar(les.scar_scale[i], p[0], p[1]);
                let mi = smoothstep(-s.blend, s.blend, r - d);
                if mi > m {
                    m = mi;
                    let k = les.scar_strength[i] * mi;
                    let rho = (d / r.max(1e-9)).min(1.0);
                    // A pit lit from one side: the wall towards the light is in shadow, the far
                    // wall lit; the walls are steepest near the rim. A raised scar (negative
                    // shade) the other way round.
                    let towards =
                        theta.cos() * self.skin.light[0] + theta.sin() * self.skin.light[1];
                    let shade = 1.0 - s.shade * k * smoothstep(s.wall_from, 1.0, rho) * towards;
                    let mottle =
                        1.0 + 0.35 * fbm(s.seed, p[0] / s.mottle_scale, p[1] / s.mottle_scale, 2);
                    let depth = s.core * (1.0 - rho).powi(2);
                    let tone = 1.0 + (s.tone * mottle + depth) * k;
                    scar = [
                        tone * shade * (1.0 + s.pink * k),
                        tone * shade * (1.0 - 0.5 * s.pink * k),
                        tone * shade * (1.0 - 0.3 * s.pink * k),
                    ];
                }
            }
            // The segment nearest relative to its width shapes the groove here.
            let (mut best, mut dark) = (LINE_REACH, 0.0);
            for &(l, s) in segs {
                let (l, s) = (l as usize, s as usize);
                let line = &self.lines[l];
                let (a, b) = (line.pts[s], line.pts[s + 1]);
                let (d, t) = seg_dist(p, a, b);
                let hw = (line.hw[s] + t * (line.hw[s + 1] - line.hw[s])) * les.line_width[l];
                if d >= best * hw {
                    continue;
                }
                best = d / hw;
                let c = (line.contrast[s] + t * (line.contrast[s + 1] - line.contrast[s]))
                    * les.line_contrast[l];
                let core = 1.0 - smoothstep(LINE_INNER * hw, LINE_OUTER * hw, d);
                let halo = 0.25 * (-(d / (2.0 * hw)).powi(2)).exp();
                // A groove lit from one side: its far wall catches a little light.
                let facing = if d > 1e-9 {
                    let (cx, cy) = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
                    ((p[0] - cx) * self.skin.light[0] + (p[1] - cy) * self.skin.light[1]) / d
                } else {
                    0.0
                };
                let glint =
                    0.18 * (-facing).max(0.0) * (-((d - 1.8 * hw) / (0.7 * hw)).powi(2)).exp();
                dark = c * (core + halo * (1.0 - core) - glint);
            }
            let c = plain(m, scar, dark);
            for k in 0..3 {
                sum[k] += c[k];
            }
        }
        sum.map(|v| v / subs.len() as f64)
    }

    /// Length of a line's centreline outside every scar (at this session's scar sizes).
    pub(super) fn visible_length(&self, les: &Lesions, l: usize) -> f64 {
        self.lines[l]
            .pts
            .windows(2)
            .filter(|w| {
                let mid = [0.5 * (w[0][0] + w[1][0]), 0.5 * (w[0][1] + w[1][1])];
                !self
                    .scars
                    .iter()
                    .zip(&les.scar_scale)
                    .any(|(s, &k)| s.contains(k, mid[0], mid[1]))
            })
            .map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]))
            .sum()
    }

    /// Every point that must stay in view: line vertices and scar bounding boxes.
    pub(super) fn key_points(&self) -> Vec<[f64; 2]> {
        let mut pts: Vec<[f64; 2]> = self
            .lines
            .iter()
            .flat_map(|l| l.pts.iter().copied())
            .collect();
        for s in &self.scars {
            let r = s.bound(1.0) + s.blend;
            for (dx, dy) in [(-r, -r), (r, -r), (-r, r), (r, r)] {
                pts.push([s.centre[0] + dx, s.centre[1] + dy]);
            }
        }
        pts
    }
}

impl Lesions {
    /// The treatment effect at session `k`: lines thinner and fainter by about 10% per
    /// session, scars about 7% smaller in radius per session (session 0 unchanged).
    pub(super) fn draw(rng: &mut ChaCha8Rng, world: &World, k: usize) -> Lesions {
        if k == 0 {
            return Lesions {
                line_width: vec![1.0; world.lines.len()],
                line_contrast: vec![1.0; world.lines.len()],
                scar_scale: vec![1.0; world.scars.len()],
                scar_strength: vec![1.0; world.scars.len()],
            };
        }
        let f = (0.9f64.powi(k as i32) * rng.random_range(0.98..1.02)).max(0.4);
        let s = (0.93f64.powi(k as i32) * rng.random_range(0.985..1.015)).max(0.4);
        let line_width = world
            .lines
            .iter()
            .map(|_| (f * rng.random_range(0.96..1.04)).min(1.0))
            .collect();
        let line_contrast = world
            .lines
            .iter()
            .map(|_| (f * rng.random_range(0.95..1.05)).min(1.0))
            .collect();
        let scar_scale = world
            .scars
            .iter()
            .map(|_| (s * rng.random_range(0.98..1.02)).min(1.0))
            .collect();
        let scar_strength = world
            .scars
            .iter()
            .map(|_| (1.0 - 0.05 * k as f64).max(0.6))
            .collect();
        Lesions {
            line_width,
            line_contrast,
            scar_scale,
            scar_strength,
        }
    }
}

/// A smooth random walk with slowly varying curvature, kept inside `bx`, mostly along
/// `grain` (radians).
fn draw_line(rng: &mut ChaCha8Rng, bx: [f64; 4], ppm: f64, grain: f64) -> Option<Line> {
    let (bw, bh) = (bx[2] - bx[0], bx[3] - bx[1]);
    let min_len = (5.0 * ppm).min(0.25 * bw.min(bh));
    for _ in 0..20 {
        let target = rng.random_range(5.0..40.0) * ppm;
        let hw0 = (rng.random_range(0.05..0.125) * ppm).max(0.8);
        let contrast0 = rng.random_range(0.15..0.40);
        let m = LINE_REACH * hw0 + 1.0;
        if bw <= 2.0 * m || bh <= 2.0 * m {
            return None;
        }
        let inside = |p: [f64; 2]| {
            p[0] >= bx[0] + m && p[0] <= bx[2] - m && p[1] >= bx[1] + m && p[1] <= bx[3] - m
        };
        let mut p = [
            rng.random_range(bx[0] + m..bx[2] - m),
            rng.random_range(bx[1] + m..bx[3] - m),
        ];
        // Most wrinkles follow the skin's tension lines (the grain); some do not.
        let mut heading = if rng.random_bool(0.25) {
            rng.random_range(0.0..std::f64::consts::TAU)
        } else {
            grain
                + rng.random_range(-0.6..0.6)
                + if rng.random_bool(0.5) {
                    std::f64::consts::PI
                } else {
                    0.0
                }
        };
        // Fine lines bend gently: radius of curvature mostly above 10 mm.
        let k0 = rng.random_range(-1.0..1.0) / (15.0 * ppm);
        let k1 = rng.random_range(0.0..1.0) / (10.0 * ppm);
        let wavelength = rng.random_range(5.0..20.0) * ppm;
        let phase = rng.random_range(0.0..std::f64::consts::TAU);
        let step = 1.0;
        let mut pts = vec![p];
        let mut len = 0.0;
        while len < target {
            let kappa = k0 + k1 * (std::f64::consts::TAU * len / wavelength + phase).sin();
            heading += kappa * step;
            let next = [p[0] + step * heading.cos(), p[1] + step * heading.sin()];
            if !inside(next) {
                break;
            }
            pts.push(next);
            p = next;
            len += step;
        }
        if len < min_len || pts.len() < 3 {
            continue;
        }
        let seed: u64 = rng.random();
        let n = pts.len();
        let (mut hw, mut contrast) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let s = i as f64 * step;
            let t = s / len;
            // Lines taper towards their ends and vary a little along their length.
            let taper = smoothstep(0.0, 0.15, t) * smoothstep(0.0, 0.15, 1.0 - t);
            let vw = 0.5 + 0.5 * noise::value(seed, s / (3.0 * ppm), 0.5);
            let vc = 0.5 + 0.5 * noise::value(seed ^ 1, s / (4.0 * ppm), 0.5);
            hw.push(hw0 * (0.75 + 0.25 * vw) * (0.35 + 0.65 * taper));
            contrast.push(contrast0 * (0.7 + 0.3 * vc) * (0.5 + 0.5 * taper));
        }
        return Some(Line { pts, hw, contrast });
    }
    None
}

/// An irregular round blob inside `bx`, apart from the scars already placed.
fn draw_scar(
    rng: &mut ChaCha8Rng,
    bx: [f64; 4],
    ppm: f64,
    blend: f64,
    others: &[Scar],
) -> Option<Scar> {
    let (bw, bh) = (bx[2] - bx[0], bx[3] - bx[1]);
    for _ in 0..30 {
        let nh = rng.random_range(2..=5);
        let harmonics: Vec<(f64, f64, f64)> = (0..nh)
            .map(|_| {
                let f = rng.random_range(2..=6) as f64;
                (
                    rng.random_range(0.0..0.16) / f.sqrt(),
                    f,
                    rng.random_range(0.0..std::f64::consts::TAU),
                )
            })
            .collect();
        let wobble: f64 = harmonics.iter().map(|h| h.0).sum();
        let room = 0.5 * bw.min(bh) - blend - 1.0;
        let radius = (0.5 * rng.random_range(1.5..6.0) * ppm).min(room / (1.0 + wobble));
        let r_max = radius * (1.0 + wobble);
        let m = r_max + blend + 1.0;
        if radius < 1.5 || bw <= 2.0 * m || bh <= 2.0 * m {
            return None;
        }
        let centre = [
            rng.random_range(bx[0] + m..bx[2] - m),
            rng.random_range(bx[1] + m..bx[3] - m),
        ];
        let seed = rng.random();
        let mottle_scale = rng.random_range(0.3..0.8) * ppm;
        let tone = rng.random_range(-0.12..0.06);
        let pink = if rng.random_bool(0.3) {
            rng.random_range(0.04..0.12)
        } else {
            0.0
        };
        let shade = rng.random_range(0.06..0.18);
        let apart = others.iter().all(|o| {
            (o.centre[0] - centre[0]).hypot(o.centre[1] - centre[1])
                > o.bound(1.0) + o.blend + r_max + blend + 2.0
        });
        if apart {
            return Some(Scar {
                centre,
                radius,
                harmonics,
                r_max,
                axis: [1.0, 0.0],
                elong: 1.0,
                tone,
                core: 0.0,
                pink,
                shade,
                wall_from: 0.3,
                blend,
                seed,
                mottle_scale,
            });
        }
    }
    None
}
