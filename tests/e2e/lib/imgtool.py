"""Test images for the end-to-end suite, made and inspected with Debian's
Pillow (python3-pil), independently of libvips: what medialib renders is
checked by another decoder.

  imgtool.py make KIND OUT [ARGS...]   writes a test image
  imgtool.py inspect FILE              prints JSON: format, width, height,
                                       mode, exif tags, gps, icc, corner colours
Run with /usr/bin/python3 (Debian's, where python3-pil lives).
"""
import io
import json
import sys

from PIL import Image, ImageCms

# EXIF tags
ORIENTATION = 0x0112
MAKE = 0x010F
BODY_SERIAL = 0xA431
GPS_IFD = 0x8825


def quadrants(w, h):
    """An image whose four quadrants have distinct colours, so a rotation
    or a flip shows where each corner went."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            left, top = x < w // 2, y < h // 2
            px[x, y] = {
                (True, True): (255, 0, 0),  # red top-left
                (False, True): (0, 255, 0),  # green top-right
                (True, False): (0, 0, 255),  # blue bottom-left
                (False, False): (255, 255, 0),  # yellow bottom-right
            }[(left, top)]
    return im


def exif_with(orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "MedialibTestCam"
    exif[0xA431] = "SERIAL-123456"  # BodySerialNumber (Exif IFD in real files)
    gps = {1: "N", 2: (12.0, 34.0, 56.0), 3: "E", 4: (65.0, 43.0, 21.0)}
    exif[GPS_IFD] = gps
    return exif


def make(kind, out, args):
    w = int(args[0]) if args else 400
    h = int(args[1]) if len(args) > 1 else 300
    if kind == "jpeg":
        quadrants(w, h).save(out, "JPEG", quality=90)
    elif kind == "jpeg-exif":  # ARGS: w h orientation
        o = int(args[2]) if len(args) > 2 else 1
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        quadrants(w, h).save(out, "JPEG", quality=90, exif=exif_with(o).tobytes(), icc_profile=icc)
    elif kind == "png":
        quadrants(w, h).save(out, "PNG")
    elif kind == "png-alpha":
        im = quadrants(w, h).convert("RGBA")
        im.putalpha(128)
        im.save(out, "PNG")
    elif kind == "gif-anim":  # ARGS: w h frames
        n = int(args[2]) if len(args) > 2 else 3
        frames = [Image.new("P", (w, h), i % 256) for i in range(n)]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    elif kind == "webp":
        quadrants(w, h).save(out, "WEBP", quality=90)
    elif kind == "tiff":
        quadrants(w, h).save(out, "TIFF", compression="tiff_deflate")
    else:
        raise SystemExit(f"unknown kind {kind}")


def inspect(path):
    with open(path, "rb") as f:
        data = f.read()
    im = Image.open(io.BytesIO(data))
    im.load()
    exif = im.getexif()
    rgb = im.convert("RGB")
    w, h = rgb.size

    def at(x, y):
        return list(rgb.getpixel((min(max(x, 0), w - 1), min(max(y, 0), h - 1))))

    info = {
        "format": im.format,
        "width": w,
        "height": h,
        "mode": im.mode,
        "exif_tags": sorted(int(k) for k in exif.keys()),
        "gps": bool(exif.get_ifd(GPS_IFD)) if exif else False,
        "has_exif_bytes": b"Exif\x00\x00" in data,
        "serial_in_bytes": b"SERIAL-123456" in data,
        "make_in_bytes": b"MedialibTestCam" in data,
        "icc": bool(im.info.get("icc_profile")),
        "frames": getattr(im, "n_frames", 1),
        "corners": {
            "tl": at(w // 8, h // 8),
            "tr": at(w - 1 - w // 8, h // 8),
            "bl": at(w // 8, h - 1 - h // 8),
            "br": at(w - 1 - w // 8, h - 1 - h // 8),
        },
    }
    print(json.dumps(info))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 3 and sys.argv[1] == "inspect":
        inspect(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
