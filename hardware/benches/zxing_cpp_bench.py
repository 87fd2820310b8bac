#!/usr/bin/env python3
"""Decode the corpus written by `cargo bench -p expo-hardware --bench qr_decode` with zxing-cpp.

Reference figures for the Rust decoders: same PNG frames, same success criterion (the expected
text is among the decoded results), time per frame measured around the decode call only.

    pip install zxing-cpp pillow
    python3 hardware/benches/zxing_cpp_bench.py [CORPUS_DIR]
"""

import os
import statistics
import sys
import tempfile
import time

import zxingcpp

from PIL import Image


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "expo-qr-corpus")
    with open(os.path.join(corpus, "manifest.tsv"), encoding="utf-8") as manifest:
        rows = [line.rstrip("\n").split("\t") for line in manifest if line.strip()]
    times, successes = [], 0
    buckets = {0: [0, 0], 1: [0, 0], 2: [0, 0]}
    for name, expected, module_px, *_ in rows:
        image = Image.open(os.path.join(corpus, name)).convert("L")
        started = time.perf_counter()
        results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        times.append(time.perf_counter() - started)
        bucket = 0 if float(module_px) < 3 else 1 if float(module_px) < 5 else 2
        buckets[bucket][1] += 1
        if any(result.text == expected for result in results):
            successes += 1
            buckets[bucket][0] += 1
    times.sort()
    by_size = " / ".join(f"{ok}/{n}" for ok, n in buckets.values())
    print(f"{'zxing-cpp':<24} {100 * successes / len(rows):>7.1f}% "
          f"{statistics.median(times) * 1000:>10.1f} {times[len(times) * 9 // 10] * 1000:>10.1f}   {by_size}")


if __name__ == "__main__":
    main()
