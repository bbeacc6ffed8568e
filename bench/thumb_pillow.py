"""The thumbnail benchmark's peer (bench/run.sh): Pillow, in process, on the
same JPEG as bench_thumb, the way a Django media app makes a thumbnail:
open, draft mode (the JPEG decoder's DCT scaling, like libvips's
shrink-on-load), thumbnail, JPEG into memory.

    /usr/bin/python3 bench/thumb_pillow.py input.jpg [runs] [width]

Run it with Debian's python3 and python3-pil. Prints one line of key=value
pairs like bench_thumb: runs, median_ms, p90_ms, min_ms, out_bytes,
max_rss_kib (getrusage ru_maxrss of this process, the interpreter included).
"""
import io
import resource
import sys
import time

import PIL
from PIL import Image


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    times = []
    size = out_bytes = None
    # One warm-up run, as bench_thumb does.
    for i in range(runs + 1):
        t0 = time.perf_counter()
        with Image.open(path) as im:
            w, h = im.size
            height = (h * width + w // 2) // w
            im.draft("RGB", (width, height))
            im.thumbnail((width, height), Image.LANCZOS)
            out = io.BytesIO()
            im.save(out, "JPEG")
        t1 = time.perf_counter()
        if i:
            times.append((t1 - t0) * 1000)
        size, out_bytes = im.size, out.tell()
    times.sort()
    print(
        f"runs={runs} pillow={PIL.__version__} out={size[0]}x{size[1]} "
        f"median_ms={times[(runs - 1) // 2]:.2f} p90_ms={times[(runs * 9 + 9) // 10 - 1]:.2f} "
        f"min_ms={times[0]:.2f} out_bytes={out_bytes} "
        f"max_rss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}"
    )


if __name__ == "__main__":
    main()
