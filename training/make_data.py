"""Generate the synthetic training set with skintrack's own generator.

Runs `skintrack synth --out DIR --seed N --sessions 1 --size 512x512 --px-per-mm 20` for seeds
1..N into training/data/raw/seed_NNNN/ (cached: a seed whose files exist is not regenerated
unless --force), then writes training/data/index.json listing every image, its class map, its
skin ITA angle and tone group, and its split (the last --held-out seeds are held out for scores).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA_DIR, INDEX_FILE, REPO_DIR, load_classes, load_rgb, tone_group  # noqa: E402


def find_binary(arg: str | None) -> Path:
    if arg:
        p = Path(arg)
        if not p.exists():
            raise SystemExit(f"skintrack binary not found: {p}")
        return p.resolve()
    for cand in ("target/release/skintrack", "target/debug/skintrack"):
        p = REPO_DIR / cand
        if p.exists():
            return p
    raise SystemExit("no skintrack binary in target/release or target/debug: build it "
                     "(cargo build --release) or pass --skintrack PATH")


def find_ita(truth: object) -> float | None:
    """ITA angle from truth.json: `skin_ita_deg` anywhere in it (first one, i.e. session 0),
    else any numeric key containing 'ita'."""
    found: list[tuple[int, float]] = []

    def walk(o: object) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    kl = k.lower()
                    if kl == "skin_ita_deg":
                        found.append((0, float(v)))
                    elif "ita" in kl.split("_") or kl.startswith("ita"):
                        found.append((1, float(v)))
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(truth)
    if not found:
        return None
    found.sort(key=lambda t: t[0])  # stable: exact name first, then document order
    return found[0][1]


def ita_from_image(rgb: np.ndarray, classes: np.ndarray) -> float:
    """Fallback ITA (degrees) from the median CIELAB of background skin pixels."""
    from skimage.color import rgb2lab

    lab = rgb2lab(rgb)
    m = classes == 0
    L = float(np.median(lab[..., 0][m]))
    b = float(np.median(lab[..., 2][m]))
    return math.degrees(math.atan2(L - 50.0, b))


def generate(binary: Path, seed: int, out: Path, size: str, px_per_mm: float, force: bool,
             sessions: int) -> None:
    done = out / ".done"
    if done.exists() and not force:
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cmd = [str(binary), "synth", "--out", str(out), "--seed", str(seed), "--sessions", str(sessions),
           "--size", size, "--px-per-mm", f"{px_per_mm:g}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"seed {seed}: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    if not list(out.glob("*_s0.jpg")) or not list((out / "truth").glob("*_s0_classes.png")):
        raise SystemExit(f"seed {seed}: {' '.join(cmd)} wrote no *_s0.jpg / truth/*_s0_classes.png "
                         f"(is this a skintrack binary with the synth command?)\n{r.stdout}{r.stderr}")
    done.write_text("ok\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skintrack", help="path of the skintrack binary (default target/release "
                    "then target/debug)")
    ap.add_argument("--seeds", type=int, default=200, help="generate seeds 1..N (default 200)")
    ap.add_argument("--sessions", type=int, default=3,
                    help="sessions per seed (default 3): later sessions show the lines thinner and "
                    "fainter and the scars smaller (the generator's treatment effect), through a "
                    "camera warp and other lighting, so the model learns the whole range it must "
                    "measure")
    ap.add_argument("--held-out", type=int, default=None,
                    help="hold out the last K seeds for scores (default 10%% of N)")
    ap.add_argument("--size", default="512x512")
    ap.add_argument("--px-per-mm", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="regenerate seeds that already exist")
    a = ap.parse_args()

    binary = find_binary(a.skintrack)
    held = a.held_out if a.held_out is not None else max(1, round(a.seeds * 0.1))
    raw = DATA_DIR / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    seeds = list(range(1, a.seeds + 1))
    print(f"generating {len(seeds)} seeds with {binary} ({a.jobs} jobs)", flush=True)
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(generate, binary, s, raw / f"seed_{s:04d}", a.size, a.px_per_mm, a.force,
                         a.sessions)
                for s in seeds]
        for i, f in enumerate(cf.as_completed(futs), 1):
            f.result()
            if i % 20 == 0 or i == len(seeds):
                print(f"  {i}/{len(seeds)}", flush=True)

    items = []
    fallback = 0
    for s in seeds:
        d = raw / f"seed_{s:04d}"
        for k in range(a.sessions):
            imgs = sorted(d.glob(f"*_s{k}.jpg"))
            if len(imgs) != 1:
                raise SystemExit(f"{d}: expected one *_s{k}.jpg, found {len(imgs)}")
            cls = sorted((d / "truth").glob(f"*_s{k}_classes.png"))
            if len(cls) != 1:
                raise SystemExit(f"{d}/truth: expected one *_s{k}_classes.png, found {len(cls)}")
            rgb = load_rgb(imgs[0])
            c = load_classes(cls[0])
            if rgb.shape[:2] != c.shape:
                raise SystemExit(f"{d}: image {rgb.shape[:2]} and classes {c.shape} differ in size")
            ita = None
            tj = d / "truth.json"
            if tj.exists():
                with open(tj) as f:
                    ita = find_ita(json.load(f))
            if ita is None:
                ita = ita_from_image(rgb, c)
                fallback += 1
            counts = np.bincount(c.ravel(), minlength=3)
            items.append({
                "seed": s,
                "session": k,
                "image": str(imgs[0].relative_to(DATA_DIR)),
                "classes": str(cls[0].relative_to(DATA_DIR)),
                "skin_ita_deg": round(ita, 3),
                "tone": tone_group(ita),
                "pixels": [int(v) for v in counts],
                "split": "heldout" if s > a.seeds - held else "train",
            })
    if fallback:
        print(f"warning: {fallback} seeds had no ITA in truth.json; computed from the image")

    cmd = (f"skintrack synth --out DIR --seed N --sessions {a.sessions} --size {a.size} "
           f"--px-per-mm {a.px_per_mm:g}")
    index = {
        "generator": "skintrack synth",
        "binary": str(binary),
        "command": cmd,
        "seeds": f"1..{a.seeds}",
        "train_seeds": f"1..{a.seeds - held}",
        "heldout_seeds": f"{a.seeds - held + 1}..{a.seeds}",
        "size": a.size,
        "px_per_mm": a.px_per_mm,
        "items": items,
    }
    with open(INDEX_FILE, "w") as f:
        json.dump(index, f, indent=1)
    tot = np.sum([it["pixels"] for it in items], axis=0)
    tones = {t: sum(1 for it in items if it["tone"] == t) for t in ("light", "medium", "dark")}
    print(f"wrote {INDEX_FILE}: {len(items)} images ({sum(it['split'] == 'train' for it in items)} train, {sum(it['split'] == 'heldout' for it in items)} held out); "
          f"class pixel share {np.round(tot / tot.sum(), 4).tolist()}; tones {tones}")


if __name__ == "__main__":
    main()
