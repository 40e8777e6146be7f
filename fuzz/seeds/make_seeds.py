# Writes the seed inputs of the fuzz targets into fuzz/seeds/ (small valid files of every
# supported kind; libFuzzer mutates from them). Run: python3 fuzz/seeds/make_seeds.py (Pillow).
import io
from pathlib import Path
from PIL import Image

here = Path(__file__).parent
photos = here / "load_photo"
photos.mkdir(exist_ok=True)
im = Image.new("RGB", (24, 20))
px = im.load()
for y in range(20):
    for x in range(24):
        px[x, y] = (x * 10, y * 12, 128)
im.save(photos / "rgb.jpg", quality=80)
im.save(photos / "progressive.jpg", quality=80, progressive=True)
im.convert("CMYK").save(photos / "cmyk.jpg", quality=80)
im.convert("L").save(photos / "grey.jpg", quality=80)
im.save(photos / "rgb.png")
im.convert("RGBA").save(photos / "rgba.png")
im.convert("I;16").save(photos / "grey16.png")
im.convert("P").save(photos / "palette.png")
im.save(photos / "rgb.tif")
im.save(photos / "rgb_lzw.tif", compression="tiff_lzw")
im.save(photos / "rgb.webp", quality=80)
im.save(photos / "lossless.webp", lossless=True)
exif = Image.Exif()
exif[0x0112] = 6
exif[0x0132] = "2026:01:05 10:11:12"
im.save(photos / "exif_rotated.jpg", quality=80, exif=exif.tobytes())
Image.new("RGB", (1, 1)).save(photos / "tiny.png")
