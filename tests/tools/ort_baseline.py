#!/usr/bin/env python3
"""onnxruntime timing baseline for facebank's detector and recogniser.

Preprocesses photos the way facebank does, times both ONNX models with
onnxruntime on the CPU, and prints the numbers to compare with tract at
the same thread count.

    python tests/tools/ort_baseline.py --threads 1 [--repeat 30] [--json] [PHOTO ...]

Needs: onnxruntime, pillow, numpy.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[2]
DETECTOR = ROOT / "models" / "retinaface_mnv2.onnx"
RECOGNISER = ROOT / "models" / "dlib_face_recognition_resnet_v1.onnx"
DEFAULT_PHOTOS = [
    str(ROOT / "tests" / "data" / "scenes" / "insightface_t1.jpg"),
    str(ROOT / "tests" / "data" / "faces" / "deepface_angelina" / "1.jpg"),
]
DETECT_SIZE = 640
STRIDE = 32
WARMUP = 3


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def detector_input(photo):
    """NHWC float32 RGB 0..255, longest side scaled to 640, padded to multiples of 32."""
    img = ImageOps.exif_transpose(Image.open(photo)).convert("RGB")
    w, h = img.size
    scale = DETECT_SIZE / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pixels = np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    ph = -(-size[1] // STRIDE) * STRIDE
    pw = -(-size[0] // STRIDE) * STRIDE
    padded = np.zeros((1, ph, pw, 3), dtype=np.float32)
    padded[0, : size[1], : size[0]] = pixels
    return padded


def time_ms(sess, feed, repeat):
    for _ in range(WARMUP):
        sess.run(None, feed)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 95))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per case")
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    parser.add_argument("photos", nargs="*", default=DEFAULT_PHOTOS)
    args = parser.parse_args()
    # The detector logs a harmless deprecation warning on every load.
    ort.set_default_logger_severity(3)

    result = {"threads": args.threads, "detector": {}, "recogniser": {}}
    print(f"onnxruntime {ort.__version__}, threads {args.threads}, repeat {args.repeat}")

    det = session(DETECTOR, args.threads)
    for photo in args.photos:
        x = detector_input(photo)
        median, p95 = time_ms(det, {"input": x}, args.repeat)
        shape = list(x.shape)
        result["detector"][photo] = {"shape": shape, "median_ms": median, "p95_ms": p95}
        shape_text = "x".join(str(d) for d in shape)
        print(f"detector    {Path(photo).name:<24} {shape_text:<14} "
              f"median {median:8.2f} ms  p95 {p95:8.2f} ms")

    rec = session(RECOGNISER, args.threads)
    rng = np.random.default_rng(0)
    for batch in (1, 6):
        x = rng.uniform(0, 255, (batch, 3, 150, 150)).astype(np.float32)
        median, _ = time_ms(rec, {"input": x}, args.repeat)
        result["recogniser"][f"batch{batch}_median_ms"] = median
        print(f"recogniser  batch {batch:<18} {'':<14} median {median:8.2f} ms"
              f"  ({median / batch:.2f} ms/face)")

    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
