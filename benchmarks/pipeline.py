"""Where the time of a verified page goes: VerifyDocument in-process, stage by stage, next to its floor.

    python benchmarks/pipeline.py [--json] [--repeats 7] [--quick] [--skip-server]

Generated A4 letters (150, 200 and 300 dpi; PNG, JPEG and image-only PDF; 0, 2 or 6 marks: half signatures,
half company seals; with and without OCR) are verified against two enrolled identities (a signer and a seal, from
``clients/samples/specimens``). For each case it prints the median and p95 milliseconds of every stage the core
reports (decode/render, downscale, detect = the model and its output's decoding, crop and preprocess, embed, score,
OCR) plus building the gRPC response
(``server.convert`` + serialization), their sum and the end-to-end time, next to the **floor**: decoding the page
(OpenCV for PNG/JPEG, pypdfium2 for PDF, at full size) and downscaling it to the detector's input, measured in the
same run. In the same run it also times, per crop, the shipped signature encoder and a SigNet-architecture encoder
(``benchmarks/encoders.py``), and (unless ``--skip-server``) how long ``stampauth serve`` takes to answer health
SERVING and its resident memory once idle.

``--json`` prints one object; its ``headline`` holds the target case (300-dpi A4 JPEG, 2 marks, no OCR):
``page_ms_median``, ``floor_ms_median``, ``floor_ratio``, ``signet_speed_ratio``, ``server_start_s``,
``idle_rss_mb``. The targets (2 CPU cores): page <= 250 ms, floor ratio <= 3, SigNet ratio >= 10, start <= 10 s,
idle RSS < 800 MB. ``--quick`` runs only the target case and a few neighbours (the CI regression check).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLES = ROOT / "clients" / "samples" / "specimens"
STAGE_ORDER = ("decode", "downscale", "detect", "preprocess", "embed", "score", "overlay", "ocr", "response")
A4_INCHES = (8.27, 11.69)


# -- pages -------------------------------------------------------------------------------------------


def make_page(dpi: int, n_marks: int, seed: int = 0) -> np.ndarray:
    """A printed A4 letter ``(H, W, 3) uint8`` BGR at ``dpi`` with ``n_marks`` marks along its lower half:
    signatures of the sample signer and impressions of the sample seal, alternating."""
    from stampauth.synth import samples
    from stampauth.synth.signatures import random_style
    from stampauth.synth.stamps import composite_ink, render_stamp

    rng = np.random.default_rng([seed, dpi, n_marks])
    style = random_style(np.random.default_rng([samples.SEED, 0]))
    design = samples.seal_design()
    # the sample letter without its marks (blank signature, seal painted out), then the marks in their slots
    base = samples.letter(np.full((10, 10, 3), 255, np.uint8), design, 20, f"B-{seed}")
    base[1150:1600, 700:1100] = 255
    slots = [(140, 1180), (720, 1180), (140, 1420), (720, 1420), (140, 940), (720, 940)]
    for k in range(n_marks):
        x, y = slots[k]
        if k % 2 == 0:
            crop = samples.signature_crop(style, 30 + k + int(rng.integers(0, 5)))
            h, w = crop.shape[:2]
            region = base[y + 120 - h:y + 120, x:x + w]
            np.minimum(region, crop[: region.shape[0], : region.shape[1]], out=region)
        else:
            coverage = render_stamp(design, np.random.default_rng([seed, k]), 230, rotation_deg=float(rng.uniform(-20, 20)))
            composite_ink(base, coverage, design.color_bgr, x, y - 60)
    width, height = round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)
    return cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC if dpi > 150 else cv2.INTER_AREA)


def encode_page(page: np.ndarray, fmt: str, dpi: int) -> bytes:
    if fmt == "png":
        return cv2.imencode(".png", page)[1].tobytes()
    if fmt == "jpeg":
        return cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB)).save(buffer, "PDF", resolution=float(dpi), quality=90)
    return buffer.getvalue()


# -- timing ------------------------------------------------------------------------------------------


class StageClock:
    """Collects the core's stage times of the calls made in this thread."""

    def __init__(self):
        self.local = threading.local()

    def __call__(self, name: str, seconds: float) -> None:
        times = getattr(self.local, "times", None)
        if times is not None:
            times[name] = times.get(name, 0.0) + 1000 * seconds

    def start(self) -> dict:
        self.local.times = {}
        return self.local.times


def floor_ms(content: bytes, fmt: str, dpi: int, long_side: int) -> float:
    """Decode the page at full size and downscale it to the detector's input (aspect kept): the least any
    pipeline must spend on it."""
    started = time.perf_counter()
    if fmt == "pdf":
        import pypdfium2

        document = pypdfium2.PdfDocument(content)
        image = document[0].render(scale=dpi / 72.0).to_numpy()
        document.close()
    else:
        image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return 1000 * (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def run_case(core, clock, case: dict, repeats: int, claims) -> dict:
    from stampauth.server.convert import verification_to_proto
    from stampauth.text.types import OcrOptions

    page = make_page(case["dpi"], case["marks"])
    content = encode_page(page, case["format"], case["dpi"])
    ocr = OcrOptions() if case["ocr"] else None
    pdf_dpi = case["dpi"] if case["format"] == "pdf" else 0
    long_side = core.detector.card.input_long_side
    stages: dict[str, list[float]] = {name: [] for name in STAGE_ORDER}
    totals, floors, found = [], [], 0
    for repeat in range(repeats + 1):  # the first run warms caches and is not counted
        times = clock.start()
        started = time.perf_counter()
        result = core.verify_document(content, claims, pdf_dpi=pdf_dpi, ocr=ocr)
        response_started = time.perf_counter()
        verification_to_proto(result).SerializeToString()
        times["response"] = 1000 * (time.perf_counter() - response_started)
        times["detect"] = times.get("detect", 0.0) - times.get("downscale", 0.0)  # the core nests downscale in detect
        total = 1000 * (time.perf_counter() - started)
        floor = floor_ms(content, case["format"], case["dpi"], long_side)
        if repeat == 0:
            found = len(result.marks)
            continue
        totals.append(total)
        floors.append(floor)
        for name in STAGE_ORDER:
            stages[name].append(times.get(name, 0.0))
    stage_medians = {name: round(float(np.median(v)), 1) for name, v in stages.items()}
    page_median = round(float(np.median(totals)), 1)
    floor_median = round(float(np.median(floors)), 1)
    return {
        **case, "bytes": len(content), "marks_found": found, "repeats": repeats,
        "stages_ms_median": stage_medians,
        "stages_ms_p95": {name: percentile(v, 95) for name, v in stages.items()},
        "stages_sum_ms_median": round(sum(stage_medians.values()), 1),
        "page_ms_median": page_median, "page_ms_p95": percentile(totals, 95),
        "floor_ms_median": floor_median, "floor_ratio": round(page_median / floor_median, 2) if floor_median else None,
    }


def encoder_comparison() -> dict:
    """The shipped signature encoder against a SigNet-architecture encoder on the same crops."""
    from encoders import compare_encoders, sample_canvases

    return compare_encoders(sample_canvases(16))


def server_start_and_memory(idle_seconds: float = 3.0) -> dict:
    """``stampauth serve`` from process start to health SERVING, and its resident memory once idle."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "STAMPAUTH_DATA_DIR": data}
        command = [sys.executable, "-m", "stampauth.cli", "serve", "--insecure", "--no-auth", "--host", "127.0.0.1",
                   "--port", str(port)]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                while True:
                    try:
                        if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    except grpc.RpcError:
                        pass
                    if time.perf_counter() - started > 120 or process.poll() is not None:
                        raise RuntimeError("the server did not become SERVING within 120 s")
                    time.sleep(0.05)
            start_s = time.perf_counter() - started
            time.sleep(idle_seconds)
            rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"server_start_s": round(start_s, 2), "idle_rss_mb": round(rss_kb / 1024, 1)}


def build_core(store_dir: str):
    from stampauth.documents import DocumentClaim
    from stampauth.service import StampAuth, SpecimenInput

    core = StampAuth.open(f"sqlite:///{store_dir}/refs.db")
    core.create_identity("jansen", "J. Jansen", specimens=[
        SpecimenInput("signature", p.read_bytes()) for p in sorted(SAMPLES.glob("jansen-signature-*.png"))])
    core.create_identity("acme-seal", "ACME Holding B.V.", specimens=[
        SpecimenInput("stamp", p.read_bytes()) for p in sorted(SAMPLES.glob("acme-seal-*.png"))])
    return core, [DocumentClaim("jansen", "signature"), DocumentClaim("acme-seal", "stamp")]


def cases(quick: bool) -> list[dict]:
    target = {"dpi": 300, "format": "jpeg", "marks": 2, "ocr": False}
    if quick:
        return [target, {**target, "format": "png"}, {**target, "format": "pdf"}, {**target, "dpi": 150},
                {**target, "marks": 0}, {**target, "marks": 6}]
    grid = [{"dpi": d, "format": f, "marks": m, "ocr": o} for o in (False, True) for d in (150, 200, 300)
            for f in ("png", "jpeg", "pdf") for m in (0, 2, 6)]
    return [target] + [c for c in grid if c != target]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (after one warm-up run)")
    parser.add_argument("--quick", action="store_true", help="the target case and five neighbours only")
    parser.add_argument("--skip-server", action="store_true", help="do not time the server's start and memory")
    args = parser.parse_args(argv)

    from stampauth.stages import add_stage_observer

    clock = StageClock()
    add_stage_observer(clock)
    results = []
    with tempfile.TemporaryDirectory() as store_dir:
        core, claims = build_core(store_dir)
        try:
            for case in cases(args.quick):
                results.append(run_case(core, clock, case, args.repeats, claims))
                if not args.json:
                    print_case(results[-1])
        finally:
            core.close()
    encoders = encoder_comparison()
    server = {} if args.skip_server else server_start_and_memory()
    target = results[0]
    headline = {"case": "A4 300 dpi JPEG, 2 marks (a signature and a seal), no OCR",
                "page_ms_median": target["page_ms_median"], "page_ms_p95": target["page_ms_p95"],
                "floor_ms_median": target["floor_ms_median"], "floor_ratio": target["floor_ratio"],
                "signet_speed_ratio": encoders["signet_speed_ratio"], **server, "cpu_count": os.cpu_count()}
    if args.json:
        print(json.dumps({"headline": headline, "encoders": encoders, "cases": results}, indent=2))
    else:
        print(f"\nencoders per crop: shipped {encoders['shipped_ms_per_crop']} ms, SigNet architecture "
              f"{encoders['signet_ms_per_crop']} ms: ratio {encoders['signet_speed_ratio']}")
        print("headline:", json.dumps(headline))
    return 0


def print_case(r: dict) -> None:
    label = f"{r['dpi']} dpi {r['format']:<4} {r['marks']} marks {'OCR' if r['ocr'] else 'no OCR'}"
    stages = " ".join(f"{name} {r['stages_ms_median'][name]:.1f}" for name in STAGE_ORDER if r["stages_ms_median"][name])
    print(f"{label:<30} page {r['page_ms_median']:7.1f} ms (p95 {r['page_ms_p95']:.1f}) | floor {r['floor_ms_median']:5.1f} "
          f"ms ratio {r['floor_ratio']} | found {r['marks_found']} | {stages} | sum {r['stages_sum_ms_median']:.1f}")


if __name__ == "__main__":
    sys.exit(main())
