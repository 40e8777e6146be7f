"""Train SkinSeg on the synthetic training split (CPU, deterministic).

Reads training/data/index.json (make_data.py), keeps the training images in memory, and trains
on random 256x256 crops with geometric and photometric augmentation. Loss: class-weighted
cross-entropy + soft Dice on fine_line and scar. Writes the checkpoint
training/runs/skinseg-v1.pt and a progress log training/runs/train.log.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

# The CPU may be shared: busy-waiting OpenMP threads then slow training down ~5x. Must be set
# before torch (libgomp) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLASSES, LONGEST_SIDE, MEAN, REALDATA_DIR, STD, TILE, TRAINING_DIR, items, load_classes, load_index, load_rgb  # noqa: E402
from eval_real import voc_boxes  # noqa: E402
from realskin import IGNORE, add_shine, composite, paste_backdrop, skin_labels  # noqa: E402
from model import SkinSeg  # noqa: E402

RUNS_DIR = TRAINING_DIR / "runs"
# Weight of the second-capture consistency term (consistency_loss); 0, as for the shipped model:
# tried at 2 and not kept (README, "Tried and not landed: consistency between two captures").
CONSISTENCY_WEIGHT = 0.0


def set_determinism(seed: int, warn_only: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=warn_only)


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    its = items(load_index(), split)
    if not its:
        raise SystemExit(f"no '{split}' images in the index")
    imgs = np.stack([load_rgb(it["image"]) for it in its])  # N,H,W,3 uint8
    cls = np.stack([load_classes(it["classes"]) for it in its])  # N,H,W uint8
    return (torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(),
            torch.from_numpy(cls).contiguous(), its)


REAL_SET = "acne04_train"  # read from ../shared/realdata, never copied


def load_real(real_dir: Path, limit: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The real training photos (HxWx3 uint8, original size, sorted by name) and their weak
    skin labels (realskin.skin_labels, using the acne-lesion boxes as known skin)."""
    files = sorted((real_dir / "images").glob("*.jpg"))
    if limit:
        files = files[:limit]
    photos, labels = [], []
    for f in files:
        rgb = load_rgb(f)
        photos.append(rgb)
        xml = real_dir / "annotations_voc" / (f.stem + ".xml")
        boxes = voc_boxes(xml, rgb.shape[1], rgb.shape[0]) if xml.exists() else []
        labels.append(skin_labels(rgb, boxes))
    return photos, labels


class RealCropper:
    """256x256 (or jittered-size) crops of real photos at skintrack's working scale:
    factor clamp(LONGEST_SIDE / longest side, 1/16, 2), the image crate's Triangle resize
    (eval_real.resize_image; skintrack resamples photos enlarged >= 1.5x, as all of these are,
    with Triangle too), computed exactly but only for the crop window (separable
    weights sliced to the window), rounded to uint8 like the full resize."""

    def __init__(self, photos: list[np.ndarray], labels: list[np.ndarray]):
        from eval_real import round_half_away, triangle_weights
        self.photos = photos
        self.labels = labels
        self.cache: dict[tuple[int, int], np.ndarray] = {}
        self.tw = triangle_weights
        self.rha = round_half_away

    def weights(self, n_in: int, n_out: int) -> np.ndarray:
        k = (n_in, n_out)
        if k not in self.cache:
            self.cache[k] = self.tw(n_in, n_out)
        return self.cache[k]

    def working_size(self, i: int) -> tuple[int, int]:
        h, w = self.photos[i].shape[:2]
        f = min(max(LONGEST_SIDE / max(w, h), 1.0 / 16.0), 2.0)
        return max(self.rha(h * f), 1), max(self.rha(w * f), 1)

    def crop(self, i: int, y0: int, x0: int, src: int) -> np.ndarray:
        """src x src x 3 uint8 window (y0, x0) of photo i resized to its working size."""
        img = self.photos[i]
        h, w = img.shape[:2]
        wh_, ww_ = self.working_size(i)
        wv = self.weights(h, wh_)[y0 : y0 + src]          # src x h
        wc = self.weights(w, ww_)[x0 : x0 + src]          # src x w
        rows = np.nonzero(wv.any(0))[0]
        cols = np.nonzero(wc.any(0))[0]
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        wv, wc = wv[:, r0:r1], wc[:, c0:c1].T
        out = np.empty((src, src, 3), np.uint8)
        for c in range(3):
            t = (wv @ img[r0:r1, c0:c1, c].astype(np.float32)) @ wc
            out[:, :, c] = np.floor(np.clip(t, 0, 255) + np.float32(0.5))
        return out

    def label_crop(self, i: int, y0: int, x0: int, src: int) -> np.ndarray:
        """The weak labels of the same window, nearest neighbour."""
        lab = self.labels[i]
        h, w = lab.shape
        wh_, ww_ = self.working_size(i)
        ys = np.clip(((np.arange(y0, y0 + src) + 0.5) * h / wh_).astype(int), 0, h - 1)
        xs = np.clip(((np.arange(x0, x0 + src) + 0.5) * w / ww_).astype(int), 0, w - 1)
        return lab[np.ix_(ys, xs)]


class Augment:
    """Random crop (with mild scale jitter), flips, 90-degree rotations, brightness /
    contrast / colour / gamma jitter, slight blur and noise. All randomness from one seeded
    numpy Generator, so a run is reproducible."""

    def __init__(self, rng: np.random.Generator, cls: torch.Tensor, size: int = TILE,
                 line_bias: float = 0.5, real: "RealCropper | None" = None, real_frac: float = 0.0,
                 composite_frac: float = 0.0, jpeg_p: float = 0.0, scar_smoothing: bool = True,
                 backdrop_frac: float = 0.0, shine_frac: float = 0.0, wb_jitter: float = 0.08,
                 sat_jitter: float = 0.0, real_zoom_max: float = 1.2):
        self.rng = rng
        self.wb_jitter = wb_jitter
        self.sat_jitter = sat_jitter
        self.real_zoom_max = real_zoom_max
        self.backdrop_frac = backdrop_frac
        self.shine_frac = shine_frac
        self.scar_smoothing = scar_smoothing
        self.jpeg_p = jpeg_p
        self.real = real
        self.real_frac = real_frac if real is not None else 0.0
        self.composite_frac = composite_frac
        self.n_real = 0
        # which crops of the last batch came from real photos (distillation uses only the
        # synthetic ones); kept outside the random stream
        self.last_real: list[bool] = []
        self.size = size
        self.line_bias = line_bias
        # fine lines cover well under 1% of the pixels: keep (a sample of) their positions so
        # that a share of the crops can be centred near one
        self.line_px = []
        for c in cls:
            yx = torch.nonzero(c == 1).numpy()
            self.line_px.append(yx[:: max(1, len(yx) // 200)])
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(STD).view(1, 3, 1, 1)

    def geometric(self, i: int, img: torch.Tensor, cls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.rng
        s = self.size
        _, h, w = img.shape
        scale = r.uniform(0.85, 1.2) if r.random() < 0.5 else 1.0
        src = min(int(round(s / scale)), h, w)
        lines = self.line_px[i]
        if len(lines) and r.random() < self.line_bias:
            cy, cx = lines[int(r.integers(0, len(lines)))]
            y0 = int(np.clip(cy - r.integers(0, src), 0, h - src))
            x0 = int(np.clip(cx - r.integers(0, src), 0, w - src))
        else:
            y0 = int(r.integers(0, h - src + 1))
            x0 = int(r.integers(0, w - src + 1))
        im = img[:, y0 : y0 + src, x0 : x0 + src].float() / 255.0
        return self.to_tile(im, cls[y0 : y0 + src, x0 : x0 + src])

    def to_tile(self, im: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A src x src crop (3xHxW float in [0, 1], HxW uint8 labels) brought to the tile size
        (bilinear / nearest), then a random 90-degree rotation and horizontal flip."""
        r = self.rng
        s = self.size
        if im.shape[-1] != s:
            im = F.interpolate(im[None], size=(s, s), mode="bilinear", align_corners=False)[0]
            c = F.interpolate(c[None, None].float(), size=(s, s), mode="nearest")[0, 0].to(torch.uint8)
        k = int(r.integers(0, 4))
        if k:
            im = torch.rot90(im, k, (1, 2))
            c = torch.rot90(c, k, (0, 1))
        if r.random() < 0.5:
            im = torch.flip(im, (2,))
            c = torch.flip(c, (1,))
        return im.contiguous(), c.contiguous()

    def geometric_real(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A real-photo crop at working scale with its weak skin labels, lines and scars drawn
        onto its skin (composite_frac of the crops); same scale jitter, rotations and flips as
        the synthetic crops."""
        r = self.rng
        s = self.size
        i = int(r.integers(0, len(self.real.photos)))
        h, w = self.real.working_size(i)
        # zooming in (scale > 1) shows real skin magnified as in a close-up of a scar
        scale = r.uniform(0.85, self.real_zoom_max) if r.random() < 0.5 else 1.0
        src = min(int(round(s / scale)), h, w)
        y0 = int(r.integers(0, h - src + 1))
        x0 = int(r.integers(0, w - src + 1))
        patch = self.real.crop(i, y0, x0, src)
        lab = self.real.label_crop(i, y0, x0, src)
        if r.random() < self.composite_frac:
            patch, lab = composite(r, patch, lab, self.scar_smoothing)
        # no draw without backdrops: keeps the random stream (and so a retrain) of model 2.0.0
        if self.backdrop_frac > 0 and r.random() < self.backdrop_frac:
            j = int(r.integers(0, len(self.real.photos)))
            hj, wj = self.real.working_size(j)
            if hj >= src and wj >= src:  # the scene must fill the crop
                other = self.real.crop(j, int(r.integers(0, hj - src + 1)), int(r.integers(0, wj - src + 1)), src)
                patch, lab = paste_backdrop(r, patch, lab, other)
        if self.shine_frac > 0 and r.random() < self.shine_frac:
            patch = add_shine(r, patch, lab)
        im = torch.from_numpy(patch).permute(2, 0, 1).float() / 255.0
        return self.to_tile(im, torch.from_numpy(np.ascontiguousarray(lab)))

    def photometric(self, x: torch.Tensor, second_views: int = 0) -> torch.Tensor:
        """Light (exposure, contrast, white balance, gamma) then capture (blur, noise) per
        crop; then a second capture of the first `second_views` crops, appended in order:
        the same light, their own blur, noise and JPEG, as a second photo of the same skin
        after skintrack has brought it to the baseline's light."""
        r = self.rng
        lit, out = [], []
        for im in x:
            wb = self.wb_jitter
            gain = torch.tensor(r.uniform(0.75, 1.25) * r.uniform(1 - wb, 1 + wb, 3), dtype=torch.float32)
            im = im * gain.view(3, 1, 1)
            # no draw without it: keeps the random stream (and so a retrain) of model 2.1.0
            if self.sat_jitter > 0:
                grey = (im * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
                im = grey + (im - grey) * float(r.uniform(1 - self.sat_jitter, 1 + self.sat_jitter / 2))
            m = im.mean()
            im = (im - m) * float(r.uniform(0.7, 1.3)) + m
            im = im.clamp(0, 1) ** float(math.exp(r.uniform(-0.2, 0.2)))
            lit.append(im)
            out.append(self.capture(im, blur_p=0.3, jpeg_p=0.0))
        for im in lit[:second_views]:
            out.append(self.capture(im, blur_p=0.5, jpeg_p=self.jpeg_p))
        x = torch.stack(out)
        return (x - self.mean) / self.std

    def capture(self, im: torch.Tensor, blur_p: float, jpeg_p: float) -> torch.Tensor:
        r = self.rng
        if r.random() < blur_p:
            im = blur(im, float(r.uniform(0.3, 1.0)))
        if r.random() < 0.5:
            n = torch.from_numpy(r.standard_normal(im.shape).astype(np.float32))
            im = im + n * float(r.uniform(0.0, 0.02))
        im = im.clamp(0, 1)
        # no draw without JPEG: keeps the random stream (and so a retrain) of model 2.0.0
        if jpeg_p > 0 and r.random() < jpeg_p:
            im = jpeg(im, int(r.integers(70, 96)))
        return im

    def batch(self, imgs: torch.Tensor, cls: torch.Tensor, bsz: int,
              second_views: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """bsz crops with their labels, then second captures of the first `second_views`
        of them (Augment.photometric) with the same labels."""
        idx = self.rng.integers(0, imgs.shape[0], bsz)
        pairs = []
        self.last_real = []
        for i in idx:
            if self.real_frac > 0 and self.rng.random() < self.real_frac:
                pairs.append(self.geometric_real())
                self.n_real += 1
                self.last_real.append(True)
            else:
                pairs.append(self.geometric(int(i), imgs[i], cls[i]))
                self.last_real.append(False)
        x = torch.stack([p[0] for p in pairs])
        y = torch.stack([p[1] for p in pairs] + [p[1] for p in pairs[:second_views]]).long()
        return self.photometric(x, second_views), y


def blur(im: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 2) of a 3xHxW image."""
    t = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma * sigma))
    k = k / k.sum()
    x = im.unsqueeze(0)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="reflect"), k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)
    return x[0]


def jpeg(im: torch.Tensor, quality: int) -> torch.Tensor:
    """A 3xHxW [0, 1] image through a JPEG encode/decode at the given quality (Pillow)."""
    import io
    from PIL import Image
    a = (im.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    b = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(b).permute(2, 0, 1).contiguous()


def consistency_loss(logits: torch.Tensor, bsz: int) -> torch.Tensor:
    """Mean squared difference of the class probabilities of the second captures (items bsz..)
    and their first captures (items 0..): the same crop under the same light with other
    blur, noise and JPEG. Saturated pixels contribute ~0, so the term acts where a class
    boundary is decided: it asks the network to put a scar's or a line's edge in the same
    place whatever the capture, which is what the repeatability of scar area needs."""
    p = logits.softmax(1)
    k = logits.shape[0] - bsz
    return ((p[:k] - p[bsz:]) ** 2).sum(1).mean()


def consistency_ramp(step: int, total: int) -> float:
    """0 for the first 30% of the steps, then linearly up to 1 at 50%: the views must agree on
    something learnt first. At weight 10 from the first step the network collapsed to
    all-background (trivially consistent) within two epochs; at weight 10 from 15% it unlearnt
    scar and non-skin (train IoU 0.00 and 0.42 -> 0.10 by epoch 5)."""
    return float(np.clip((step / total - 0.3) / 0.2, 0.0, 1.0))


class Teacher:
    """A trained model's ONNX file run with onnxruntime on the synthetic crops of each batch:
    its logits for background, fine_line and scar are the soft targets of distill_loss. Tried
    with model 1.0.0 (synthetic skin only, whose synthetic scar area repeats within 3 %): it
    made every score worse (README "Tried and not landed: a second seed, synthetic only again,
    distillation, ensembles"); kept for a better teacher, such as an ensemble of runs."""

    def __init__(self, path: str, threads: int):
        from eval_real import load_manifest
        from evaluate import session  # onnxruntime only when distilling
        self.session = session(path, threads)
        self.input = self.session.get_inputs()[0].name
        # which model taught, for the checkpoint's meta (and so the manifest)
        manifest = load_manifest(Path(path))
        self.name = f"{manifest['name']} {manifest['version']} (sha256 {manifest['sha256'][:16]})"

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # the exported models take batch 1
        out = [self.session.run(None, {self.input: x[k : k + 1].numpy()})[0] for k in range(len(x))]
        return torch.from_numpy(np.concatenate(out)[:, :3])


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence from the teacher's to the student's distribution over background,
    fine_line and scar (non_skin left out: the teacher has no such class), softened by the
    temperature and scaled by its square so that the gradient keeps its size. Unlike the hard
    labels, whose gradient fades once a pixel is classified right, it keeps pulling the
    student's margins towards the teacher's, so plain skin stays as surely plain as the
    teacher has it."""
    t = F.log_softmax(teacher / temperature, 1)
    s = F.log_softmax(student[:, :3] / temperature, 1)
    return (t.exp() * (t - s)).sum(1).mean() * temperature**2


def class_weights(cls: torch.Tensor, cap: float = 10.0) -> torch.Tensor:
    """Inverse-square-root class frequency of the synthetic labels, background = 1, capped;
    non_skin (large regions of the real photos, absent from the synthetic ones) weighs 1."""
    counts = torch.bincount(cls.flatten().long(), minlength=3)[:3].double()
    f = counts / counts.sum()
    w = (f[0] / f.clamp_min(1e-6)).sqrt().clamp(max=cap)
    return torch.cat([w, torch.ones(len(CLASSES) - 3, dtype=w.dtype)]).float()


def dice_loss(logits: torch.Tensor, y: torch.Tensor, classes=(1, 2)) -> torch.Tensor:
    p = logits.softmax(1)
    valid = (y != IGNORE).float()
    losses = []
    for c in classes:
        pc = p[:, c] * valid
        tc = (y == c).float()
        inter = (pc * tc).sum()
        losses.append(1 - (2 * inter + 1) / (pc.sum() + tc.sum() + 1))
    return torch.stack(losses).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crops-per-image", type=int, default=2,
                    help="crops per training image per epoch (a 512x512 image holds 4 tiles)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RUNS_DIR / "skinseg-v1.pt"))
    ap.add_argument("--realdata", default=str(REALDATA_DIR),
                    help=f"real-photo folder; its {REAL_SET}/ photos give real skin, non-skin and backgrounds")
    ap.add_argument("--real-frac", type=float, default=0.4,
                    help="probability that a training crop comes from a real photo")
    ap.add_argument("--composite-frac", type=float, default=0.75,
                    help="probability that a real crop gets synthetic lines and scars drawn onto its skin")
    ap.add_argument("--consistency", type=float, default=CONSISTENCY_WEIGHT,
                    help="weight of the second-capture consistency term (0: none, as model 2.0.0)")
    ap.add_argument("--second-views", type=int, default=4,
                    help="crops per batch that get a second capture for the consistency term")
    ap.add_argument("--jpeg-p", type=float, default=0.5,
                    help="probability that a second capture goes through a JPEG re-encode (quality 70-95)")
    ap.add_argument("--no-scar-smoothing", action="store_true",
                    help="composited scars keep the skin's texture (not smoothed towards a blurred copy)")
    ap.add_argument("--teacher", default=None,
                    help="ONNX model whose logits on the synthetic crops are soft targets (distill_loss)")
    ap.add_argument("--distill", type=float, default=0.0, help="weight of distill_loss (needs --teacher)")
    ap.add_argument("--distill-temp", type=float, default=2.0, help="temperature of distill_loss")
    ap.add_argument("--backdrop-frac", type=float, default=0.25,
                    help="probability that a real crop gets part of its frame replaced by a surface labelled "
                         "non_skin: a strongly defocused scene, a pale (or any-colour) flat field or a "
                         "striped fabric (realskin.paste_backdrop)")
    ap.add_argument("--shine-frac", type=float, default=0.0,
                    help="probability that a real crop gets a soft specular shine on its skin, still labelled "
                         "skin (realskin.add_shine; the counterweight to --backdrop-frac)")
    ap.add_argument("--real-limit", type=int, default=0, help="use only the first N real photos")
    ap.add_argument("--wb-jitter", type=float, default=0.08,
                    help="white balance: each channel's gain drawn from 1 +- this")
    ap.add_argument("--sat-jitter", type=float, default=0.0,
                    help="saturation scaled by a factor drawn from [1 - this, 1 + this / 2] (0: none)")
    ap.add_argument("--real-zoom-max", type=float, default=1.2,
                    help="half of the real crops are zoomed by a factor drawn from [0.85, this]")
    ap.add_argument("--warmup-frac", type=float, default=1 / 30,
                    help="share of the steps over which the learning rate rises linearly")
    ap.add_argument("--clip-grad", type=float, default=0.0,
                    help="clip the gradient's norm to this (0: no clipping)")
    ap.add_argument("--prior-init", action="store_true",
                    help="start the head's biases at the log class frequencies of the training labels, "
                         "so that the first steps do not drive the rare classes' logits down everywhere")
    ap.add_argument("--device", default="cpu",
                    help="torch device for the network (cpu reproduces the shipped model; "
                         "cuda for quick comparisons of recipes across seeds)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    set_determinism(a.seed, warn_only=a.device != "cpu")
    device = torch.device(a.device)
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = Path(a.out).with_suffix(".log")
    logf = open(log_path, "w")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    t_start = time.time()
    imgs, cls, its = load_split("train")
    weights = class_weights(cls).to(device)
    log(f"train images {len(its)} {tuple(imgs.shape)}; class weights {weights.tolist()}; args {vars(a)}")

    model = SkinSeg().to(device)
    real = None
    real_dir = Path(a.realdata) / REAL_SET
    if a.real_frac > 0:
        if not (real_dir / "images").is_dir():
            raise SystemExit(f"{real_dir}/images: no real photos (needed for --real-frac > 0; "
                             "see training/README.md, 'Real photos')")
        t0 = time.time()
        real = RealCropper(*load_real(real_dir, a.real_limit))
        lab = np.concatenate([l.ravel() for l in real.labels])
        log(f"real photos: {len(real.photos)} from {real_dir}, p {a.real_frac}, composites p {a.composite_frac}; "
            f"weak labels skin {np.mean(lab == 0):.3f} non-skin {np.mean(lab == 3):.3f} "
            f"unsure {np.mean(lab == IGNORE):.3f} ({time.time() - t0:.0f} s)")
    if a.prior_init:
        # After the weights are drawn, so the random stream is the default recipe's.
        freq = np.bincount(cls.numpy().ravel(), minlength=len(CLASSES))[: len(CLASSES)].astype(np.float64)
        freq /= freq.sum()
        if real is not None:
            known = lab[lab != IGNORE]
            real_freq = np.bincount(known, minlength=len(CLASSES))[: len(CLASSES)] / max(1, known.size)
            freq = (1 - a.real_frac) * freq + a.real_frac * real_freq
        prior = torch.from_numpy(np.log(np.maximum(freq, 1e-3))).float()
        with torch.no_grad():
            model.head.bias.copy_(prior - prior.mean())
        log(f"head biases from the class frequencies {np.round(freq, 4).tolist()}: {model.head.bias.tolist()}")
    aug = Augment(np.random.default_rng(a.seed), cls, real=real, real_frac=a.real_frac,
                  composite_frac=a.composite_frac, jpeg_p=a.jpeg_p,
                  scar_smoothing=not a.no_scar_smoothing, backdrop_frac=a.backdrop_frac,
                  shine_frac=a.shine_frac, wb_jitter=a.wb_jitter, sat_jitter=a.sat_jitter,
                  real_zoom_max=a.real_zoom_max)
    if a.distill > 0 and not a.teacher:
        raise SystemExit("--distill needs --teacher MODEL.onnx")
    if a.distill > 0 and a.device != "cpu":
        raise SystemExit("--distill runs on the cpu only")
    teacher = Teacher(a.teacher, a.threads) if a.distill > 0 else None
    steps_per_epoch = math.ceil(len(its) * a.crops_per_image / a.batch)
    total = steps_per_epoch * a.epochs
    warm = max(1, int(total * a.warmup_frac))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    log(f"{a.epochs} epochs x {steps_per_epoch} steps (batch {a.batch}) = {total} steps")

    step = 0
    for ep in range(1, a.epochs + 1):
        model.train()
        t0 = time.time()
        sums = {"loss": 0.0, "ce": 0.0, "dice": 0.0, "cons": 0.0, "kd": 0.0}
        n_cls = len(CLASSES)
        inter = torch.zeros(n_cls)
        union = torch.zeros(n_cls)
        for _ in range(steps_per_epoch):
            x, y = aug.batch(imgs, cls, a.batch, a.second_views if a.consistency > 0 else 0)
            x, y = x.to(device), y.to(device)
            logits = model(x)
            ce = F.cross_entropy(logits, y, weight=weights, ignore_index=IGNORE)
            dl = dice_loss(logits, y)
            cons = consistency_loss(logits, a.batch) if a.consistency > 0 else torch.zeros(())
            kd = torch.zeros(())
            if teacher is not None:
                synthetic = [k for k, is_real in enumerate(aug.last_real) if not is_real]
                if synthetic:
                    kd = distill_loss(logits[synthetic], teacher.logits(x[synthetic]), a.distill_temp)
            loss = ce + dl + consistency_ramp(step, total) * a.consistency * cons + a.distill * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad)
            opt.step()
            sched.step()
            step += 1
            sums["loss"] += loss.item()
            sums["ce"] += ce.item()
            sums["dice"] += dl.item()
            sums["cons"] += cons.item()
            sums["kd"] += kd.item()
            with torch.no_grad():
                pred = logits.argmax(1)
                known = y != IGNORE
                for c in range(n_cls):
                    inter[c] += ((pred == c) & (y == c)).sum().item()
                    union[c] += (((pred == c) | (y == c)) & known).sum().item()
        dt = time.time() - t0
        iou = (inter / union.clamp_min(1)).tolist()
        n = steps_per_epoch
        log(f"epoch {ep}/{a.epochs} loss {sums['loss'] / n:.4f} ce {sums['ce'] / n:.4f} "
            f"dice {sums['dice'] / n:.4f} cons {sums['cons'] / n:.5f} kd {sums['kd'] / n:.4f} train-IoU bg {iou[0]:.3f} line {iou[1]:.3f} scar {iou[2]:.3f} "
            f"non-skin {iou[3]:.3f} real crops {aug.n_real} "
            f"lr {sched.get_last_lr()[0]:.2e} {dt:.0f}s (eta {dt * (a.epochs - ep) / 60:.1f} min)")

    minutes = (time.time() - t_start) / 60
    meta = {"epochs": a.epochs, "batch": a.batch, "crops_per_image": a.crops_per_image, "lr": a.lr,
            "seed": a.seed, "threads": a.threads, "steps": total, "minutes": round(minutes, 1),
            "train_images": len(its), "real_set": REAL_SET if real else None,
            "real_photos": len(real.photos) if real else 0, "real_frac": a.real_frac,
            "composite_frac": a.composite_frac, "consistency": a.consistency, "second_views": a.second_views, "jpeg_p": a.jpeg_p,
            "scar_smoothing": not a.no_scar_smoothing, "backdrop_frac": a.backdrop_frac, "shine_frac": a.shine_frac,
            "teacher": teacher.name if teacher else None, "distill": a.distill,
            "distill_temp": a.distill_temp, "wb_jitter": a.wb_jitter, "sat_jitter": a.sat_jitter,
            "real_zoom_max": a.real_zoom_max, "device": a.device,
            "warmup_frac": a.warmup_frac, "clip_grad": a.clip_grad, "prior_init": a.prior_init, "real_crops": aug.n_real, "class_weights": [round(w, 3) for w in weights.tolist()],
            "torch": torch.__version__.split("+")[0]}
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "meta": meta}, a.out)
    log(f"saved {a.out}; {minutes:.1f} min; meta {json.dumps(meta)}")


if __name__ == "__main__":
    main()
