"""How Tesseract's own OpenMP threading affects one OCR call on this machine.

Reads the same generated 600x150 crop (two printed lines) with Tesseract's default threading and with
``OMP_THREAD_LIMIT=1``, alternating the two so both see the same machine load, and prints the median and
p90 milliseconds per call. stampauth runs Tesseract with ``OMP_THREAD_LIMIT=1``
(:mod:`stampauth.text.tesseract`) because of what this shows on 2-core machines.

    python benchmarks/tesseract_threads.py [--calls 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def crop() -> np.ndarray:
    """``(150, 600) uint8``: two lines of print, black on white."""
    from PIL import Image, ImageDraw

    from stampauth.synth.fonts import random_font

    image = Image.new("L", (600, 150), 255)
    draw = ImageDraw.Draw(image)
    font = random_font(np.random.default_rng(0), 34, "sans")
    draw.text((20, 18), "Anna K. Berrington", font=font, fill=0)
    draw.text((20, 82), "Director, Trelmax Holdings Ltd", font=font, fill=0)
    return np.asarray(image)


def one_call(image: np.ndarray, omp_limit: str | None) -> float:
    import pytesseract

    if omp_limit is None:
        os.environ.pop("OMP_THREAD_LIMIT", None)
    else:
        os.environ["OMP_THREAD_LIMIT"] = omp_limit  # pytesseract's subprocess inherits this environment
    started = time.perf_counter()
    text = pytesseract.image_to_string(image, config="--psm 6")
    elapsed = (time.perf_counter() - started) * 1000.0
    assert "Berrington" in text, text
    return elapsed


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    image = crop()
    saved = os.environ.get("OMP_THREAD_LIMIT")
    times: dict[str, list[float]] = {"default_threads": [], "omp_thread_limit_1": []}
    try:
        one_call(image, None)  # warm the file cache
        for _ in range(args.calls):
            times["default_threads"].append(one_call(image, None))
            times["omp_thread_limit_1"].append(one_call(image, "1"))
    finally:
        if saved is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = saved
    result = {name: {"median_ms": round(float(np.median(v)), 1), "p90_ms": round(float(np.percentile(v, 90)), 1)}
              for name, v in times.items()}
    result["speedup_with_limit_1"] = round(result["default_threads"]["median_ms"] / result["omp_thread_limit_1"]["median_ms"], 2)
    result.update(calls=args.calls, cpu_count=os.cpu_count(), crop="600x150, 2 lines, --psm 6")
    if args.json:
        print(json.dumps(result))
    else:
        for name in ("default_threads", "omp_thread_limit_1"):
            print(f"{name:>20}: median {result[name]['median_ms']:.1f} ms, p90 {result[name]['p90_ms']:.1f} ms")
        print(f"OMP_THREAD_LIMIT=1 is {result['speedup_with_limit_1']:.2f}x as fast ({args.calls} calls each, "
              f"{result['cpu_count']} CPUs)")
    return result


if __name__ == "__main__":
    main()
