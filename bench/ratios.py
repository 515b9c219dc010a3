#!/usr/bin/env python3
"""Ratios and differences between launch_latency modes, from its --samples file.

usage: ratios.py SAMPLES.tsv A/B [A/B ...]
For each pair: the ratio of the medians and of the p90s (nearest rank, as launch_latency), the
difference of the medians in ms, and a bootstrap 95 % interval for the median ratio and the
median difference (each mode's samples resampled on their own; 2000 draws, fixed seed, so a
rerun on the same file prints the same).
"""
import csv
import random
import sys


def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(p / 100 * len(v) + 0.999999) - 1))]


def interval(rng, a, b, f, draws=2000):
    d = sorted(f(pct([rng.choice(a) for _ in a], 50), pct([rng.choice(b) for _ in b], 50)) for _ in range(draws))
    return d[int(draws * 0.025)], d[int(draws * 0.975) - 1]


def main():
    samples = {}
    with open(sys.argv[1]) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            samples.setdefault(row["mode"], []).append(int(row["total_us"]) / 1000)
    rng = random.Random(8)
    print("\n## Ratios A/B: median, [bootstrap 95 % interval], p90; median difference A−B in ms [interval]")
    for pair in sys.argv[2:]:
        a, b = pair.split("/")
        A, B = samples[a], samples[b]
        lo, hi = interval(rng, A, B, lambda x, y: x / y)
        dlo, dhi = interval(rng, A, B, lambda x, y: x - y)
        print(f"{pair:<40} median {pct(A, 50) / pct(B, 50):.3f} [{lo:.3f}, {hi:.3f}]  p90 {pct(A, 90) / pct(B, 90):.3f}"
              f"   diff {pct(A, 50) - pct(B, 50):+.2f} ms [{dlo:+.2f}, {dhi:+.2f}]")


if __name__ == "__main__":
    main()
