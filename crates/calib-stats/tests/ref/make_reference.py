#!/usr/bin/env python3
"""Known answers for crates/calib-stats/tests/reference.rs, computed without the Rust code.

    python3 crates/calib-stats/tests/ref/make_reference.py   # numpy only; writes reference.json

- Samples come from SplitMix64 (the same integer generator as tests/common/mod.rs), so Rust
  regenerates the very same float32 values: a Gaussian (Box-Muller) and a uniform.
- gaussian: numpy's exact percentiles of |x| of the sample, plus the analytic quantiles of |N(0,1)|
  (bisection on math.erf) and the sample percentile's standard error.
- uniform: the sample's min, max and max |x| (MinMax's answer).
- entropy: crafted 2048-bin histograms and the amax chosen by a straight numpy port of
  pytorch-quantization's `_compute_amax_entropy` (pytorch_quantization/calib/histogram.py).
- mse: a crafted histogram and the amax of a numpy port (float64) of `_compute_amax_mse`.
"""
import json
import math
import os
from collections import Counter

import numpy as np

GAMMA = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def splitmix64(seed, n):
    """Outputs 1..n of SplitMix64 started at `seed` (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform01(seed, n):
    """[0, 1) doubles: the top 53 bits."""
    return (splitmix64(seed, n) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def gaussian(seed, n):
    """Box-Muller on consecutive pairs (u1, u2): sqrt(-2 ln(1 - u1)) cos(2 pi u2), as float32."""
    u = uniform01(seed, 2 * n)
    u1, u2 = 1.0 - u[0::2], u[1::2]
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def abs_normal_quantile(p):
    """q with P(|X| <= q) = p for X ~ N(0, 1): erf(q / sqrt 2) = p, by bisection."""
    lo, hi = 0.0, 20.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.erf(mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def entropy(pk, qk):
    """scipy.stats.entropy(pk, qk): normalizes both, sum of rel_entr."""
    pk = np.asarray(pk, dtype=np.float64)
    qk = np.asarray(qk, dtype=np.float64)
    pk = pk / np.sum(pk)
    qk = qk / np.sum(qk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pk > 0, np.where(qk > 0, pk * np.log(pk / qk), np.inf), 0.0)
    return float(np.sum(terms))


def compute_amax_entropy(calib_hist, calib_bin_edges, num_bits=8, unsigned=False, stride=1, start_bin=128):
    """pytorch-quantization's _compute_amax_entropy, line by line (numpy instead of torch at the end)."""

    def _normalize_distr(distr):
        # As in pytorch-quantization: rebinding `distr` normalizes nothing; entropy() normalizes.
        summ = np.sum(distr)
        if summ != 0:
            distr = distr / summ

    bins = calib_hist[:].copy()
    bins[0] = bins[1]

    total_data = np.sum(bins)

    divergences = []
    arguments = []

    # we are quantizing to 128 values + sign if num_bits=8
    nbins = 1 << (num_bits - 1 + int(unsigned))

    starting = start_bin
    stop = len(bins)

    new_density_counts = np.zeros(nbins, dtype=np.float64)

    for i in range(starting, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1

        digitized_space[bins[:i] == 0] = -1

        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density_counts[digitized] += bins[idx]

        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val

        new_density = np.zeros(i, dtype=np.float64)
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density[idx] = new_density_counts[digitized]

        total_counts_new = np.sum(new_density) + np.sum(bins[i:])
        _normalize_distr(new_density)

        reference_density = np.array(bins[: len(digitized_space)], dtype=np.float64)
        reference_density[-1] += np.sum(bins[i:])

        total_counts_old = np.sum(reference_density)
        if round(total_counts_new) != total_data or round(total_counts_old) != total_data:
            raise RuntimeError("Count mismatch! total_counts_new={}, total_counts_old={}, total_data={}".format(
                total_counts_new, total_counts_old, total_data))

        _normalize_distr(reference_density)

        ent = entropy(reference_density, new_density)
        divergences.append(ent)
        arguments.append(i)

    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    chosen = int(last_argmin * stride + starting)
    calib_amax = calib_bin_edges[chosen]
    finite = np.sort(divergences[np.isfinite(divergences)])
    return chosen, float(calib_amax), float(finite[0]), float(finite[1])


def compute_amax_mse(calib_hist, calib_bin_edges, num_bits=8, unsigned=False, stride=1, start_bin=128):
    """pytorch-quantization's _compute_amax_mse in float64 numpy; fake_tensor_quant inlined."""
    counts = calib_hist.astype(np.float64)
    edges = calib_bin_edges.astype(np.float64)
    centers = (edges[1:] + edges[:-1]) / 2
    max_bound = 2.0 ** (num_bits - 1 + int(unsigned)) - 1.0
    min_bound = -max_bound  # signed
    mses = []
    arguments = []
    for i in range(start_bin, len(centers), stride):
        amax = centers[i]
        scale = max_bound / amax
        quant_centers = np.clip(np.round(centers * scale), min_bound, max_bound) / scale
        mse = ((quant_centers - centers) ** 2 * counts).mean()
        mses.append(mse)
        arguments.append(i)
    argmin = int(np.argmin(mses))
    chosen = arguments[argmin]
    s = np.sort(mses)
    return chosen, float(centers[chosen]), float(s[0]), float(s[1])


def crafted_relu_like():
    """A ReLU'd activation: a spike of zeros, an exponential body with holes, a sparse tail."""
    j = np.arange(2048)
    counts = np.where(j < 800, np.round(50000 * np.exp(-j / 60.0)), 0).astype(np.int64)
    counts[0] = 1_000_000
    counts[200:400:37] = 0  # empty bins inside the body
    for b, c in [(900, 1), (1100, 2), (1300, 3), (1500, 1), (2047, 1)]:
        counts[b] = c
    return counts


def crafted_half_normal():
    """|x| of a bell: half-normal of sigma 400 bins, rounded; the tail runs out before 2048."""
    j = np.arange(2048)
    return np.round(20000 * np.exp(-0.5 * ((j + 0.5) / 400.0) ** 2)).astype(np.int64)


def crafted_laplace():
    """|x| of a Laplace with outliers, for MSE."""
    j = np.arange(2048)
    counts = np.round(30000 * np.exp(-(j + 0.5) / 150.0)).astype(np.int64)
    counts[1800] += 5
    counts[2047] += 2
    return counts


def main():
    out = {}
    seed, n = 20240613, 1_000_000
    x = gaussian(seed, n)
    a = np.abs(x).astype(np.float64)
    gauss = {"seed": seed, "n": n, "absmax": float(np.max(np.abs(x))), "percentiles": []}
    for p in [99.9, 99.99, 99.999]:
        q = abs_normal_quantile(p / 100)
        density = 2 * math.exp(-q * q / 2) / math.sqrt(2 * math.pi)
        se = math.sqrt((p / 100) * (1 - p / 100) / n) / density
        gauss["percentiles"].append({
            "p": p,
            "sample": float(np.percentile(a, p)),
            "analytic": q,
            "standard_error": se,
        })
    out["gaussian"] = gauss

    useed, un, lo, hi = 77, 100_000, -1.5, 2.5
    u = (uniform01(useed, un) * (hi - lo) + lo).astype(np.float32)
    out["uniform"] = {
        "seed": useed, "n": un, "low": lo, "high": hi,
        "min": float(u.min()), "max": float(u.max()), "absmax": float(np.max(np.abs(u))),
    }

    out["entropy"] = []
    for name, counts, amax in [("relu_like", crafted_relu_like(), 6.0), ("half_normal", crafted_half_normal(), 4.0)]:
        edges = np.linspace(0, amax, 2049)
        chosen, calib_amax, best, second = compute_amax_entropy(counts, edges)
        out["entropy"].append({
            "name": name, "amax": amax, "counts": counts.tolist(),
            "bins": chosen, "threshold": calib_amax,
            "best_divergence": best, "second_divergence": second,
        })

    counts = crafted_laplace()
    amax = 8.0
    edges = np.linspace(0, amax, 2049)
    chosen, calib_amax, best, second = compute_amax_mse(counts, edges)
    out["mse"] = {
        "name": "laplace", "amax": amax, "counts": counts.tolist(),
        "bin": chosen, "threshold": calib_amax, "best_mse": best, "second_mse": second,
    }

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in out["gaussian"].items()}, indent=1))
    print({k: v for k, v in out["uniform"].items()})
    for e in out["entropy"]:
        print(e["name"], e["bins"], e["threshold"], e["best_divergence"], e["second_divergence"])
    print("mse", out["mse"]["bin"], out["mse"]["threshold"], out["mse"]["best_mse"], out["mse"]["second_mse"])
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
