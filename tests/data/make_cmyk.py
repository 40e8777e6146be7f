# Writes tests/data/cmyk.jpg: a 128x96 CMYK JPEG (Adobe APP14, inverted CMYK, as PIL and
# Photoshop write it), left half RGB (220, 40, 40), right half (40, 60, 220).
# Run: python3 tests/data/make_cmyk.py   (needs Pillow; used by tests/bad_inputs.rs)
from pathlib import Path
from PIL import Image

im = Image.new("RGB", (128, 96))
px = im.load()
for y in range(96):
    for x in range(128):
        px[x, y] = (220, 40, 40) if x < 64 else (40, 60, 220)
im.convert("CMYK").save(Path(__file__).with_name("cmyk.jpg"), quality=95)
