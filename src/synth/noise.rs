//! Hash-based noise: deterministic functions of (seed, position), so any pixel of any session
//! can be evaluated independently, in any order, on any thread.

/// Finaliser of SplitMix64: a strong 64-bit mixer.
#[inline]
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a seed and a 2-D integer lattice point (one mixing round: this runs dozens of
/// times per pixel).
#[inline]
pub(super) fn hash2(seed: u64, i: i64, j: i64) -> u64 {
    mix64(
        seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (j as u64)
                .wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                .rotate_left(31),
    )
}

/// Bits `shift..shift + 16` of a hash mapped to [0, 1).
#[inline]
pub(super) fn unit16(h: u64, shift: u32) -> f64 {
    ((h >> shift) & 0xFFFF) as f64 * (1.0 / 65536.0)
}

/// A hash mapped to [0, 1).
#[inline]
pub(super) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal value from one hash (Box–Muller on its two 32-bit halves).
#[inline]
pub(super) fn gauss(h: u64) -> f64 {
    let u1 = ((h >> 32) as f64 + 0.5) / 4_294_967_296.0;
    let u2 = ((h & 0xFFFF_FFFF) as f64) / 4_294_967_296.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[inline]
fn fade(t: f64) -> f64 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

/// Smooth value noise in [-1, 1] with features about one unit apart.
#[inline]
pub(super) fn value(seed: u64, x: f64, y: f64) -> f64 {
    let (fx, fy) = (x.floor(), y.floor());
    let (i, j) = (fx as i64, fy as i64);
    let (tx, ty) = (fade(x - fx), fade(y - fy));
    let v = |a: i64, b: i64| unit(hash2(seed, a, b)) * 2.0 - 1.0;
    let top = v(i, j) + (v(i + 1, j) - v(i, j)) * tx;
    let bottom = v(i, j + 1) + (v(i + 1, j + 1) - v(i, j + 1)) * tx;
    top + (bottom - top) * ty
}

/// Fractal sum of `octaves` value-noise layers (each twice the frequency, half the
/// amplitude), normalised to about [-1, 1].
#[inline]
pub(super) fn fbm(seed: u64, x: f64, y: f64, octaves: u32) -> f64 {
    let (mut sum, mut amp, mut norm) = (0.0, 1.0, 0.0);
    // Turn every octave by ~37° so the square lattice of value noise does not show.
    let (mut x, mut y) = (0.8 * x - 0.6 * y, 0.6 * x + 0.8 * y);
    for o in 0..octaves {
        sum += amp * value(seed.wrapping_add(o as u64 * 0x51), x, y);
        norm += amp;
        amp *= 0.5;
        (x, y) = (2.0 * (0.8 * x - 0.6 * y) + 17.3, 2.0 * (0.6 * x + 0.8 * y));
    }
    sum / norm
}

/// Hermite smoothstep of `x` between `e0` and `e1`.
#[inline]
pub(super) fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_bounded_continuous_and_gauss_is_standard() {
        let mut max_step = 0.0f64;
        for k in 0..2000 {
            let x = k as f64 * 0.01;
            let (a, b) = (value(7, x, 0.3 * x), value(7, x + 0.001, 0.3 * x));
            assert!((-1.0..=1.0).contains(&a));
            max_step = max_step.max((a - b).abs());
        }
        assert!(max_step < 0.01, "value noise jumps by {max_step}");
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| gauss(hash2(3, i, 0))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
