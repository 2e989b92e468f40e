"""Load on the real server over loopback: N concurrent clients for S seconds.

Starts ``stampauth serve`` (insecure, no auth, a fresh SQLite store in a temporary folder) as its own process,
enrolls a few identities, then N client threads call a mix of VerifyImage (70 %), CompareImages (15 %),
GetIdentity (10 %) and DetectMarks on a small page (5 %) back to back for S seconds. Prints throughput, latency
percentiles per method, errors (anything but OK and RESOURCE_EXHAUSTED), the deliberate RESOURCE_EXHAUSTED
answers of an overloaded server (after which a client backs off exponentially, 20 ms to 1 s with jitter, as the
message asks), and the server's peak resident memory (VmHWM).

    python benchmarks/load.py --clients 16 --seconds 30 [--json] [--max-concurrent 4 --max-queued 16] [--no-batching]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers: synthetic crops, encode

MIX = (("VerifyImage", 0.70), ("CompareImages", 0.15), ("GetIdentity", 0.10), ("DetectMarks", 0.05))


def start_server(workdir: Path, max_concurrent: int, max_queued: int, batching: bool) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "STAMPAUTH_DATA_DIR": str(workdir), "STAMPAUTH_LIMITS__MAX_CONCURRENT_CALLS": str(max_concurrent),
           "STAMPAUTH_LIMITS__MAX_QUEUED_CALLS": str(max_queued), "TF_CPP_MIN_LOG_LEVEL": "2",
           "STAMPAUTH_LIMITS__BATCH_INFERENCE": "true" if batching else "false"}
    process = subprocess.Popen([sys.executable, "-m", "stampauth.cli", "serve", "--port", "0", "--host", "127.0.0.1",
                                "--insecure", "--no-auth"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stderr.readline()
        match = re.search(r"SERVING on port (\d+)", line)
        if match:
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, int(match.group(1))
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit("the server did not start")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024.0


def main(argv=None) -> dict:
    import grpc

    from helpers import encode, synthetic_signature
    from stampauth.synth.documents import generate_page
    from stampauth.v1 import stampauth_pb2 as pb
    from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-concurrent", type=int, default=4, help="server: calls at work at once")
    parser.add_argument("--max-queued", type=int, default=16, help="server: calls waiting for a slot")
    parser.add_argument("--no-batching", action="store_true", help="server: no cross-call batching of model calls")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    SIG = pb.MARK_KIND_SIGNATURE
    crops = {(w, v): pb.ImageData(content=encode(synthetic_signature(w, v))) for w in range(8) for v in range(6)}
    page = pb.DocumentData(content=encode(generate_page(np.random.default_rng(1), long_side=1024).image, ".jpg"))
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(Path(workdir), args.max_concurrent, args.max_queued, not args.no_batching)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.StampAuthServiceStub(channel)
                for writer in range(8):
                    stub.CreateIdentity(pb.CreateIdentityRequest(
                        identity=pb.Identity(identity_id=f"writer-{writer}"),
                        specimens=[pb.SpecimenInput(kind=SIG, image=crops[writer, v]) for v in range(3)]), timeout=60)
            latencies: dict[str, list[float]] = defaultdict(list)
            codes: dict[str, int] = defaultdict(int)
            lock = threading.Lock()
            ends = time.monotonic() + args.seconds

            def client(index: int):
                rng = np.random.default_rng(index)
                names, weights = zip(*MIX)
                backoff = 0.0  # a busy server says RESOURCE_EXHAUSTED: back off exponentially, with jitter, as told
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    stub = pb_grpc.StampAuthServiceStub(channel)
                    while time.monotonic() < ends:
                        if backoff:
                            time.sleep(backoff * rng.uniform(0.5, 1.0))
                        method = str(rng.choice(names, p=weights))
                        writer, variant = int(rng.integers(8)), int(rng.integers(3, 6))
                        call, request = {
                            "VerifyImage": (stub.VerifyImage, lambda: pb.VerifyImageRequest(
                                identity_id=f"writer-{writer}", kind=SIG, image=crops[int(rng.integers(8)), variant])),
                            "CompareImages": (stub.CompareImages, lambda: pb.CompareImagesRequest(
                                kind=SIG, reference=crops[writer, 0], query=crops[writer, variant])),
                            "GetIdentity": (stub.GetIdentity, lambda: pb.GetIdentityRequest(identity_id=f"writer-{writer}")),
                            "DetectMarks": (stub.DetectMarks, lambda: pb.DetectMarksRequest(document=page)),
                        }[method]
                        started = time.perf_counter()
                        try:
                            call(request(), timeout=60)
                            code = "OK"
                        except grpc.RpcError as error:
                            code = error.code().name
                        elapsed = (time.perf_counter() - started) * 1000.0
                        backoff = min(1.0, max(0.02, 2 * backoff)) if code == "RESOURCE_EXHAUSTED" else 0.0
                        with lock:
                            codes[code] += 1
                            if code == "OK":
                                latencies[method].append(elapsed)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            rss = peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(30)
    everything = [x for values in latencies.values() for x in values]
    result = {
        "clients": args.clients, "seconds": round(wall, 1), "ok": codes.get("OK", 0),
        "rps": round(codes.get("OK", 0) / wall, 2),
        "p50_ms": round(float(np.percentile(everything, 50)), 1) if everything else None,
        "p95_ms": round(float(np.percentile(everything, 95)), 1) if everything else None,
        "p99_ms": round(float(np.percentile(everything, 99)), 1) if everything else None,
        "errors": sum(n for code, n in codes.items() if code not in ("OK", "RESOURCE_EXHAUSTED")),
        "error_codes": {code: n for code, n in codes.items() if code not in ("OK", "RESOURCE_EXHAUSTED")},
        "resource_exhausted": codes.get("RESOURCE_EXHAUSTED", 0),
        "peak_rss_mb": round(rss, 1),
        "per_method": {m: {"calls": len(v), "p50_ms": round(float(np.percentile(v, 50)), 1),
                           "p95_ms": round(float(np.percentile(v, 95)), 1), "p99_ms": round(float(np.percentile(v, 99)), 1)}
                       for m, v in sorted(latencies.items())},
        "server": {"max_concurrent_calls": args.max_concurrent, "max_queued_calls": args.max_queued,
                   "batch_inference": not args.no_batching},
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.clients} clients, {wall:.1f} s: {result['rps']} calls/s OK, p50 {result['p50_ms']} ms, "
              f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms; errors {result['errors']}, "
              f"RESOURCE_EXHAUSTED {result['resource_exhausted']}; server peak RSS {result['peak_rss_mb']} MB")
        for method, row in result["per_method"].items():
            print(f"  {method:<14} {row['calls']:>6} calls  p50 {row['p50_ms']:>8} ms  p95 {row['p95_ms']:>8} ms  "
                  f"p99 {row['p99_ms']:>8} ms")
    return result


if __name__ == "__main__":
    main()
