"""Can a rule on a scar region's confidence tell the model's false scar patches on plain skin
from real scars? (README "Repeatability": such patches are part of the tail of synthetic
scar-area repeatability.)

For every predicted scar region (8-connected argmax scar, inference as eval_real.py) this
records its area, its largest and mean lead of the scar score over the runner-up class, and
how many of its pixels lead by 3 (the shipped `scar_core_margin`) and by 5. On synthetic
unchanged series (folders written by `skintrack synth --unchanged`, read at their own 20 px/mm,
so working factor 1 as in skintrack) a region is true when >= 20 % of it lies on a drawn scar;
on the real scar close-ups and acne faces of ../shared/realdata there is no pixel truth, so it
reports what each rule leaves of the close-ups' found rate (eval_real.py's rule) and of the acne
faces' scar regions. Regions that the shipped hysteresis drops (lead never 3) are left out.

It also prints a proxy of the repeatability study's synthetic scar-area p95, in each photo's
own frame: per later session, |(predicted / true scar px) / (the same at baseline) - 1|, with
every kept region and with the false ones taken out by the truth (an oracle), to show how much
of the tail the false patches make.

    for s in $(seq 9000 9063); do
      skintrack synth --out syn/$s --seed $s --sessions 3 --size 1200x900 --unchanged
    done
    python scar_regions.py syn --tsv regions.tsv
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

import eval_real as er
from common import SCAR, rank_two

HERE = Path(__file__).resolve().parent
TRUE_SHARE = 0.2  # a region this much on a drawn scar is a (possibly too wide) true scar
ACNE_PHOTOS = 80


def scar_regions(scores: np.ndarray, codes: np.ndarray, truth: np.ndarray | None) -> list[dict]:
    """Every 8-connected region of argmax scar: area, largest and mean lead over the
    runner-up class, pixels leading by 3 and by 5, and the share of it on `truth` (NaN
    without)."""
    best, _, lead = rank_two(scores, codes)
    labels, n = ndimage.label(best == SCAR, structure=np.ones((3, 3), bool))
    idx = np.arange(1, n + 1)
    area = ndimage.sum(np.ones_like(lead), labels, idx)
    stats = zip(area, ndimage.maximum(lead, labels, idx), ndimage.mean(lead, labels, idx),
                ndimage.sum(lead >= 3, labels, idx), ndimage.sum(lead >= 5, labels, idx),
                ndimage.sum(truth, labels, idx) if truth is not None else [np.nan] * n)
    return [dict(area=int(a), max_lead=float(m), mean_lead=float(mean), core3=int(c3),
                 core5=int(c5), true_share=float(t / a)) for a, m, mean, c3, c5, t in stats]


RULES = {
    "shipped (max lead >= 3)": lambda r: True,
    "max lead >= 4": lambda r: r["max_lead"] >= 4,
    "max lead >= 5": lambda r: r["max_lead"] >= 5,
    ">= 20 px lead >= 3": lambda r: r["core3"] >= 20,
    ">= 100 px lead >= 3": lambda r: r["core3"] >= 100,
    ">= 10 % of it lead >= 3": lambda r: r["core3"] >= 0.1 * r["area"],
    ">= 20 % of it lead >= 3": lambda r: r["core3"] >= 0.2 * r["area"],
    "mean lead >= 1.5": lambda r: r["mean_lead"] >= 1.5,
    "mean lead >= 2": lambda r: r["mean_lead"] >= 2,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("synthetic", type=Path, help="folder of `skintrack synth --unchanged` series")
    ap.add_argument("--model", type=Path, default=HERE.parent / "models/skinseg-v1.onnx")
    ap.add_argument("--realdata", default=None, help="default ../shared/realdata")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tsv", type=Path, help="also write every region here")
    a = ap.parse_args()
    _, codes, scores = er.model_scorer(a.model, a.threads)
    rows: list[dict] = []
    true_px: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
    for series in sorted(p for p in a.synthetic.iterdir() if p.is_dir()):
        for jpg in sorted(series.glob("*.jpg")):
            rgb = np.asarray(Image.open(jpg).convert("RGB"))
            truth = np.asarray(Image.open(series / "truth" / f"{jpg.stem}_classes.png")) == SCAR
            photo = f"{series.name}/{jpg.stem}"
            true_px[series.name].append((photo, int(truth.sum())))
            for r in scar_regions(scores(rgb, at_working_scale=True), codes, truth):
                rows.append(dict(r, set="synthetic", photo=photo))
    close_ups: list[str] = []
    root = er.realdata_dir(a.realdata)
    if root is not None:
        for set_name, photos in (("scar", er.scar_photos(root)), ("acne", er.acne_photos(root))):
            for k, (name, rgb, *_) in enumerate(photos):
                if set_name == "acne" and k >= ACNE_PHOTOS:
                    break
                if set_name == "scar":
                    close_ups.append(name)
                rows += [dict(r, set=set_name, photo=name) for r in scar_regions(scores(rgb), codes, None)]
    if a.tsv:
        keys = ["set", "photo", "area", "max_lead", "mean_lead", "core3", "core5", "true_share"]
        a.tsv.write_text("\t".join(keys) + "\n" + "".join(
            "\t".join(str(r[k]) for k in keys) + "\n" for r in rows))

    kept = [r for r in rows if r["max_lead"] >= 3]
    true = [r for r in kept if r["set"] == "synthetic" and r["true_share"] >= TRUE_SHARE]
    false = [r for r in kept if r["set"] == "synthetic" and r["true_share"] < TRUE_SHARE]
    print("| rule | synthetic true regions kept | synthetic false regions kept (px) "
          "| scar close-ups with a scar found | acne-face scar regions kept (px) |")
    print("|---|---|---|---|---|")
    for name, rule in RULES.items():
        false_kept = [r for r in false if rule(r)]
        found = collections.Counter(r["photo"] for r in kept
                                    if r["set"] == "scar" and r["area"] >= er.MIN_SCAR_PX and rule(r))
        acne = [r for r in kept if r["set"] == "acne" and rule(r)]
        print(f"| {name} | {sum(map(rule, true))} of {len(true)} | {len(false_kept)} of {len(false)} "
              f"({sum(r['area'] for r in false_kept)}) | {len(found)} of {len(close_ups)} "
              f"| {len(acne)} ({sum(r['area'] for r in acne)}) |")
    print()
    for label, regions in (("every kept region", true + false), ("false patches taken out (oracle)", true)):
        print(f"scar-area p95 proxy, {label}: {area_p95(regions, true_px):.2f} %")
    sys.stdout.flush()


def area_p95(regions: list[dict], true_px: dict[str, list[tuple[str, int]]]) -> float:
    """p95 over later sessions of |(predicted / true scar px) / (the same at baseline) - 1|, in
    %; sessions without true scar px, or series whose baseline reads none, are left out."""
    predicted = collections.Counter()
    for r in regions:
        predicted[r["photo"]] += r["area"]
    changes = []
    for sessions in true_px.values():
        (base, base_px), *later = sorted(sessions)
        if base_px == 0 or predicted[base] == 0:
            continue
        base_ratio = predicted[base] / base_px
        changes += [abs(predicted[p] / px / base_ratio - 1) * 100 for p, px in later if px > 0]
    # nearest rank, as skintrack's series::p95
    return sorted(changes)[round(0.95 * (len(changes) - 1))] if changes else float("nan")


if __name__ == "__main__":
    main()
