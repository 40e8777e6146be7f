"""A crude check of the skin mask on real photos: how much of the region skintrack measures
(everything the model does not call non_skin) is not skin-coloured.

Not skin-coloured: YCrCb Cr < 133 (too little red for any skin tone under roughly neutral
light) or nearly grey (|Cr - 128| + |Cb - 128| < 8). Rough by design: shadowed or very pale
skin can fail it, so read the figures as an upper bound and look at the overlays. Black-and-
white photos (median chroma under 3) are skipped. Runs the model with onnxruntime exactly as
`eval_real.py` does, on the first N photos of the wrinkled-face and clinical acne sets.

Usage: python training/skin_check.py [--photos N] [--model PATH]   (~2 min for 40 + 40)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import MODELS_DIR, REALDATA_DIR  # noqa: E402
from eval_real import NON_SKIN, acne_photos, model_classifier, wrinkle_photos  # noqa: E402
from realskin import ycrcb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--model", default=str(MODELS_DIR / "skinseg-v1.onnx"))
    a = ap.parse_args()
    if not REALDATA_DIR.is_dir():
        print(f"skin_check: {REALDATA_DIR} not found, skipped")
        return
    classify = model_classifier(Path(a.model), 1)
    for name, photos in (("wrinkled faces", wrinkle_photos(REALDATA_DIR)), ("clinical acne", acne_photos(REALDATA_DIR))):
        shares = []
        for k, (_, rgb, _) in enumerate(photos):
            if k >= a.photos:
                break
            _, cr, cb = ycrcb(rgb)
            grey = np.abs(cr - 128) + np.abs(cb - 128)
            if np.median(grey) < 3:
                continue
            measured = classify(rgb) != NON_SKIN
            off = (cr < 133) | (grey < 8)
            shares.append((measured & off).sum() / max(int(measured.sum()), 1))
        v = np.array(shares)
        print(f"{name}: {len(v)} colour photos; measured region not skin-coloured: median {np.median(v):.1%}, "
              f"p75 {np.percentile(v, 75):.1%}, over 20 % in {int((v > 0.2).sum())}")


if __name__ == "__main__":
    main()
