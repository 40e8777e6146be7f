"""Real-photo training crops: weak skin labels and synthetic lines and scars drawn onto real skin.

The synthetic generator alone teaches the network that anything unlike its skin is a lesion
(see README, "Real photos"). Real photos add what it never saw: hair, eyes, lips, clothes and
backgrounds (class `non_skin`), and real skin texture with pores, acne papules and red marks
(class `background`: they are not scars). Real photos carry no line or scar masks, so lines and
scars are drawn onto the real skin here, with exact labels.

Skin labels are weak: a per-photo colour model of the face's skin. Only confident pixels get a
label; the rest are IGNORE and do not count in the loss.

The photos are read from ../shared/realdata (never copied into the repository).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from eval_real import EIGHT, box_mask, ycrcb

IGNORE = 255
BACKGROUND, FINE_LINE, SCAR, NON_SKIN = 0, 1, 2, 3


def skin_labels(rgb: np.ndarray, lesion_boxes=()) -> np.ndarray:
    """Weak per-pixel skin label of a face photo (HxWx3 uint8): BACKGROUND (skin), NON_SKIN,
    or IGNORE where unsure. `lesion_boxes`: (name, x0, y0, x1, y1) as eval_real.voc_boxes.

    1. Seed: a classic YCrCb skin-chroma box (Chai and Ngan) that is bright enough, plus the
       annotated acne-lesion boxes (lesions sit on skin); the largest connected part is the face.
    2. Model: the seed's robust centre and spread (median, MAD) of a* and b* and of L*.
    3. Skin = chroma within 2.5 robust sigmas and not much darker than the face; non-skin =
       chroma beyond 6 sigmas, or far darker (3 sigmas: hair, brows, nostrils, backdrop). Small non-skin
       specks (pores, dark spots) become IGNORE, and so does a 3-px seam between the two.
    """
    h, w = rgb.shape[:2]
    y, cr, cb = ycrcb(rgb)
    seed = (cr > 135) & (cr < 175) & (cb > 80) & (cb < 128) & (y > 60)
    seed |= box_mask(seed.shape, lesion_boxes)
    seed = ndi.binary_opening(seed, iterations=2)
    lab, n = ndi.label(seed, EIGHT)
    if n == 0:
        return np.full((h, w), IGNORE, np.uint8)
    sizes = ndi.sum(np.ones_like(lab), lab, range(1, n + 1))
    face = lab == (1 + int(np.argmax(sizes)))
    if face.sum() < 0.02 * h * w:
        return np.full((h, w), IGNORE, np.uint8)
    L, a, b = np.moveaxis(rgb2lab(rgb), -1, 0)

    def robust(v):
        med = float(np.median(v[face]))
        mad = float(np.median(np.abs(v[face] - med))) * 1.4826
        return med, max(mad, 1.0)

    (ma, sa), (mb, sb), (ml, sl) = robust(a), robust(b), robust(L)
    chroma = np.hypot((a - ma) / sa, (b - mb) / sb)
    dark = (ml - L) / sl
    skin = (chroma < 2.5) & (dark < 2.5) & (L > 15)
    non = (chroma > 6.0) | (dark > 3.0) | (L < 12)
    # specks inside skin (pores, dark spots, acne marks) are not non-skin regions
    lab, n = ndi.label(non, EIGHT)
    if n:
        sizes = ndi.sum(np.ones_like(lab), lab, range(1, n + 1))
        small = np.zeros(n + 1, bool)
        small[1:] = sizes < 0.002 * h * w
        non &= ~small[lab]
    skin = ndi.binary_closing(skin, iterations=2) & ~non
    seam = ndi.binary_dilation(non, iterations=3) & ndi.binary_dilation(skin, iterations=3)
    out = np.full((h, w), IGNORE, np.uint8)
    out[skin] = BACKGROUND
    out[non] = NON_SKIN
    out[seam] = IGNORE
    return out


# ---- drawing lines and scars onto a real crop -------------------------------------------------


def _polyline(rng: np.random.Generator, size: int, start=None) -> np.ndarray:
    """A smooth random curve (N x 2, y x), about 1 px per step."""
    length = int(rng.uniform(30, 220))
    p = np.array(start if start is not None else rng.uniform(0, size, 2), float)
    ang = rng.uniform(0, 2 * math.pi)
    turn = rng.normal(0, 0.01)
    pts = [p.copy()]
    for _ in range(length):
        turn = 0.9 * turn + rng.normal(0, 0.006)
        ang += turn
        p = p + (math.sin(ang), math.cos(ang))
        pts.append(p.copy())
    return np.array(pts)


def _nearest(size: int, pts: np.ndarray):
    """Distance from every pixel to the rasterised curve, and the index of its nearest point."""
    grid = np.full((size, size), -1, np.int64)
    idx = np.rint(pts).astype(int)
    ok = (idx[:, 0] >= 0) & (idx[:, 0] < size) & (idx[:, 1] >= 0) & (idx[:, 1] < size)
    if not ok.any():
        return None, None
    ii = np.nonzero(ok)[0]
    grid[idx[ok, 0], idx[ok, 1]] = ii
    dist, (iy, ix) = ndi.distance_transform_edt(grid < 0, return_indices=True)
    return dist, grid[iy, ix]


def draw_line(rng, img: np.ndarray, label: np.ndarray, skin: np.ndarray, start=None) -> np.ndarray | None:
    """Darken a tapering groove along a random curve; label it FINE_LINE on skin. Returns the
    curve (for branches)."""
    size = img.shape[0]
    pts = _polyline(rng, size, start)
    dist, near = _nearest(size, pts)
    if dist is None:
        return None
    t = np.linspace(0, 1, len(pts))
    taper = np.clip(np.sin(np.pi * t) ** 0.5, 0.25, 1)
    hw0 = rng.uniform(0.8, 2.2)
    hw = hw0 * taper[near]
    contrast = rng.uniform(0.07, 0.3) * taper[near]
    groove = np.exp(-0.5 * (dist / (0.9 * hw)) ** 2) * skin
    # a fine line is a shadow: all channels darker, red slightly less (skin scatters red)
    img *= (1 - contrast[..., None] * groove[..., None] * np.array([0.85, 1.0, 1.0], np.float32))
    on = (dist <= np.maximum(hw, 0.8)) & (skin > 0.5) & (label == BACKGROUND)
    label[on] = FINE_LINE
    return pts


def draw_scar(rng, img: np.ndarray, smooth: np.ndarray, label: np.ndarray, skin: np.ndarray,
              smoothing: bool = True) -> None:
    """An atrophic scar (boxcar, rolling or ice-pick): a pit shaded from one side, smoother
    (with `smoothing`: blended towards `smooth`, a blurred copy of the skin) and slightly
    off-tone inside; labelled SCAR on skin. The smoothing strength is drawn either way, so
    both settings see the same random stream."""
    size = img.shape[0]
    kind = rng.choice(["boxcar", "rolling", "icepick"], p=[0.4, 0.4, 0.2])
    r0 = rng.uniform(2.5, 6) if kind == "icepick" else rng.uniform(5, 40)
    cy, cx = rng.uniform(0, size, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy, dx)
    radius = np.full_like(theta, r0)
    for _ in range(int(rng.integers(2, 6))):
        fq = int(rng.integers(2, 7))
        radius *= 1 + rng.uniform(0, 0.16) / math.sqrt(fq) * np.cos(fq * theta + rng.uniform(0, 2 * math.pi))
    rho = np.hypot(dy, dx) / radius
    if kind == "boxcar":
        depth = 1 - np.clip((rho - 0.75) / 0.3, 0, 1) ** 2 * (3 - 2 * np.clip((rho - 0.75) / 0.3, 0, 1))
        wall = np.exp(-0.5 * ((rho - 0.9) / 0.1) ** 2)
    elif kind == "rolling":
        depth = 0.5 * (1 + np.cos(np.pi * np.clip(rho, 0, 1)))
        wall = np.sin(np.pi * np.clip(rho, 0, 1))
    else:
        depth = np.clip(1 - rho, 0, 1) ** 1.5
        wall = np.clip(1 - rho, 0, 1)
    if not (depth > 0.05).any():
        return
    light = rng.uniform(0, 2 * math.pi)
    towards = np.cos(theta - light)
    shade = rng.uniform(0.1, 0.3) * (1.6 if kind == "icepick" else 1.0)
    tone = rng.uniform(-0.18, -0.02)
    k = skin * (depth > 0.02)
    factor = (1 + tone * depth) * (1 - shade * wall * towards) * (1 - (shade if kind == "icepick" else 0) * depth)
    pink = rng.uniform(0.03, 0.1) if rng.random() < 0.3 else 0.0
    tint = np.stack([1 + pink * depth, 1 - 0.5 * pink * depth, 1 - 0.3 * pink * depth], -1)
    strength = rng.uniform(0.2, 0.6)
    flat = (strength if smoothing else 0.0) * depth * k  # scar tissue is smoother than the skin around
    img[:] = img * (1 - flat[..., None]) + smooth * flat[..., None]
    img *= 1 + (factor[..., None] * tint - 1) * k[..., None]
    on = (rho <= 1.0) & (skin > 0.5) & (label != NON_SKIN) & (label != IGNORE)
    label[on] = SCAR


def composite(rng: np.random.Generator, crop_u8: np.ndarray, label: np.ndarray,
              scar_smoothing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Draw 0-3 lines (some branching) and 0-3 scars onto a real crop (HxWx3 uint8) whose
    weak labels are `label` (BACKGROUND / NON_SKIN / IGNORE); only skin pixels change.
    `scar_smoothing`: see `draw_scar`."""
    img = crop_u8.astype(np.float32)
    label = label.copy()
    skin = ndi.gaussian_filter((label == BACKGROUND).astype(np.float32), 1.0)
    if skin.mean() < 0.1:
        return crop_u8, label
    smooth = ndi.gaussian_filter(img, (2.5, 2.5, 0))
    for _ in range(int(rng.integers(0, 4))):
        draw_scar(rng, img, smooth, label, skin, scar_smoothing)
    for _ in range(int(rng.integers(0, 4))):
        pts = draw_line(rng, img, label, skin)
        if pts is not None and rng.random() < 0.3:
            draw_line(rng, img, label, skin, start=pts[int(rng.integers(0, len(pts)))])
    # the camera's own blur acts on the drawn lesions too
    orig = crop_u8.astype(np.float32)
    img = orig + ndi.gaussian_filter(img - orig, (0.5, 0.5, 0))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


# ---- backdrops: pale, defocused or striped surfaces that are not skin ------------------------
#
# The real training photos (ACNE04) are clinical: faces before dark or grey walls. Press and
# stock photos put faces before white walls, beige blurred rooms and pale shirts, which the
# network never saw as non-skin and so measured as skin. A share of the real crops gets part of
# its frame replaced by such a surface, labelled NON_SKIN. Pale and defocused kinds are the
# point: colour alone cannot tell them from pale skin, texture and focus can.


def _backdrop_region(rng: np.random.Generator, size: int) -> np.ndarray:
    """Signed distance (px, approximately) to a random boundary; positive = backdrop side.
    Either a wavy edge across the crop or the outside of a face-sized ellipse, covering
    roughly 20-70 % of the crop."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * math.pi)
        nx, ny = math.cos(ang), math.sin(ang)
        along = xx * -ny + yy * nx
        d = (xx - size / 2) * nx + (yy - size / 2) * ny - rng.uniform(-0.25, 0.25) * size
        for _ in range(3):
            period = rng.uniform(0.3, 1.5) * size
            d += rng.uniform(0, 0.05) * size * np.sin(2 * math.pi * along / period + rng.uniform(0, 2 * math.pi))
        return d
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    ry, rx = rng.uniform(0.35, 0.8, 2) * size
    rho = np.hypot((yy - cy) / ry, (xx - cx) / rx)
    return (rho - 1) * min(ry, rx)


def _pale_colour(rng: np.random.Generator) -> np.ndarray:
    """White, cream, beige or light grey (RGB 0-255)."""
    base = rng.uniform(170, 250)
    warm = rng.uniform(-5, 25)
    return np.array([base + warm * 0.4, base, base - warm], np.float32).clip(0, 255)


def _backdrop(rng: np.random.Generator, size: int, other: np.ndarray) -> np.ndarray:
    """A size x size x 3 float surface: a strongly defocused scene (`other`, another real crop,
    often a face: blurred skin is not measurable skin), a flat field, or a striped or woven
    fabric; flat fields and fabrics are pale (white, cream, beige, light grey) or, less often,
    any colour. Never a sharp flat field in the skin's own colour: trained as non-skin, that
    taught the network to drop smooth pale skin (training/README.md, "Backdrops")."""
    kind = rng.choice(["defocused", "flat", "fabric"], p=[0.45, 0.3, 0.25])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "defocused":
        out = ndi.gaussian_filter(other.astype(np.float32), (rng.uniform(5, 16), rng.uniform(5, 16), 0))
        if rng.random() < 0.5:
            a = rng.uniform(0.2, 0.8)
            out = out * (1 - a) + _pale_colour(rng) * a
        return out
    colour = _pale_colour(rng) if rng.random() < 0.7 else rng.uniform(20, 235, 3).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    gradient = 1 + rng.uniform(0, 0.25) * ((xx * math.cos(ang) + yy * math.sin(ang)) / size - 0.5)
    shading = ndi.gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), 24) * 24 * rng.uniform(0, 0.15)
    out = colour[None, None, :] * (gradient + shading)[..., None]
    if kind == "fabric":
        weave = np.zeros((size, size), np.float32)
        for _ in range(1 if rng.random() < 0.6 else 2):
            a = rng.uniform(0, math.pi)
            weave += np.sin(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / rng.uniform(3, 10))
        out = out * (1 + rng.uniform(0.03, 0.12) * weave)[..., None]
        out = ndi.gaussian_filter(out, (rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), 0))
    return out


def paste_backdrop(rng: np.random.Generator, crop_u8: np.ndarray, label: np.ndarray,
                   other_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace a random part of a real crop (HxWx3 uint8, weak labels `label`) with a surface
    that is not skin (`_backdrop`; `other_u8`: another real crop of the same size, the scene a
    defocused backdrop is made of). The part becomes NON_SKIN; a 2-px seam becomes IGNORE, as
    the weak labels leave the seam between skin and non-skin unlabelled."""
    size = crop_u8.shape[0]
    d = _backdrop_region(rng, size)
    surface = _backdrop(rng, size, other_u8)
    alpha = np.clip(d / rng.uniform(0.7, 2.5) + 0.5, 0, 1)[..., None]
    img = crop_u8.astype(np.float32) * (1 - alpha) + surface * alpha
    label = label.copy()
    label[d > 0] = NON_SKIN
    label[np.abs(d) < 2] = IGNORE
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


def add_shine(rng: np.random.Generator, crop_u8: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Specular shine on the skin of a real crop: a soft bright patch (towards white, the
    skin's texture partly washed out) that stays labelled skin. The counterweight to
    `paste_backdrop`: without it a network that learns "pale and smooth is not skin" drops the
    shiny forehead and cheeks of clinical photos."""
    size = crop_u8.shape[0]
    skin = label == BACKGROUND
    if skin.mean() < 0.2:
        return crop_u8
    ys, xs = np.nonzero(skin)
    k = int(rng.integers(0, len(ys)))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    sy, sx = rng.uniform(25, 110, 2)
    blob = np.exp(-0.5 * (((yy - ys[k]) / sy) ** 2 + ((xx - xs[k]) / sx) ** 2))
    blob *= ndi.gaussian_filter(skin.astype(np.float32), 3)
    img = crop_u8.astype(np.float32)
    washed = ndi.gaussian_filter(img, (rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), 0))
    a = blob[..., None]
    img = img * (1 - a) + washed * a
    strength = rng.uniform(0.15, 0.5)
    img = img * (1 - a * strength) + 250 * a * strength
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
