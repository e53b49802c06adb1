#!/usr/bin/env python3
"""Speedups over Ring from tools/scale_figures.sh's CSV: a plot (speedup vs c, speedup vs N)
and the markdown table of docs/scale.md.

usage: python3 tools/plot_scale.py SCALE.csv OUT.png [--markdown]

For every (machine, model, N): the attention layer (forward + backward) and the training
step, simulated (SimGrid) and predicted (cost model), for WallFacer c = 2 and c = 4 in the
better arrangement (by simulated layer time) and Ulysses where the heads allow it. A simulated
step is layers x the simulated layer + the model's dense products and gradient all-reduce
(the same for every plan); the bf16 column is the model with 2-byte scalars, as the paper
trains (the simulations send the program's 4-byte floats).
"""
import csv
import sys
from collections import defaultdict

PAPER_BEST = {"gpt": 1.7712, "dit": 2.1433}  # up to +77.12 % (GPT) and +114.33 % (DiT), arXiv 2407.00611 v3


def load(path):
    cases = defaultdict(dict)
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["machine"], row["model"], int(row["N"]))
            for k in ("sim_fwd_s", "sim_bwd_s", "model_fwd_s", "model_bwd_s", "dense_s", "allreduce_s",
                      "model_bf16_layer_s"):
                row[k] = float(row[k] or 0)
            row["layers"] = int(row["layers"] or 1)
            row["sim_layer"] = row["sim_fwd_s"] + row["sim_bwd_s"]
            row["model_layer"] = row["model_fwd_s"] + row["model_bwd_s"]
            rest = row["dense_s"] + row["allreduce_s"]
            row["sim_step"] = row["layers"] * row["sim_layer"] + rest
            row["model_step"] = row["layers"] * row["model_layer"] + rest
            row["bf16_step"] = row["layers"] * row["model_bf16_layer_s"] + rest
            cases[key][row["plan"]] = row
    return cases


def best_arrangement(plans, c):
    options = [p for name, p in plans.items() if name.startswith(f"wallfacer-c{c}-")]
    return min(options, key=lambda p: p["sim_layer"]) if options else None


def speedups(plans):
    """{label: (row, layer sim, layer model, step sim, step model, step bf16)} over Ring."""
    ring = plans.get("ring")
    if ring is None:
        return {}
    out = {}
    picks = [(f"c={c}", best_arrangement(plans, c)) for c in (2, 4)] + [("ulysses", plans.get("ulysses"))]
    for label, p in picks:
        if p is None:
            continue
        out[label] = (p, ring["sim_layer"] / p["sim_layer"], ring["model_layer"] / p["model_layer"],
                      ring["sim_step"] / p["sim_step"], ring["model_step"] / p["model_step"],
                      ring["bf16_step"] / p["bf16_step"] if p["bf16_step"] else float("nan"))
    return out


def markdown(cases):
    print("| machine | model | N | plan | layer: simulated | layer: model | step: simulated | step: model | "
          "step: model, bf16 | paper (best, GPT / DiT) | model vs simulation (layer) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (machine, model, n), plans in sorted(cases.items()):
        for label, (p, ls, lm, ss, sm, sb) in speedups(plans).items():
            name = p["plan"].replace("wallfacer-", "").replace("-", " ")
            paper = PAPER_BEST["dit" if model.startswith("dit") else "gpt"]
            error = p["model_layer"] / p["sim_layer"] - 1
            print(f"| {machine} | {model} | {n // 1024}K | {name} | {ls:.2f}x | {lm:.2f}x | {ss:.2f}x | {sm:.2f}x | "
                  f"{sb:.2f}x | up to {paper:.2f}x | {100 * error:+.1f} % |")


def plot(cases, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (by_c, by_n) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (machine, model, n), plans in sorted(cases.items()):
        s = speedups(plans)
        cs = [1] + [c for c in (2, 4) if f"c={c}" in s]
        sim = [1.0] + [s[f"c={c}"][3] for c in cs[1:]]
        mod = [1.0] + [s[f"c={c}"][4] for c in cs[1:]]
        line, = by_c.plot(cs, sim, "o-", label=f"{machine} {model} {n // 1024}K")
        by_c.plot(cs, mod, "x--", color=line.get_color())
    by_c.set_xlabel("team size c (1 = Ring)")
    by_c.set_ylabel("training step speedup over Ring")
    by_c.set_title("simulated (o, solid) and cost model (x, dashed)")
    by_c.legend(fontsize=6)
    series = defaultdict(list)
    for (machine, model, n), plans in cases.items():
        s = speedups(plans)
        if "c=4" in s:
            series[(machine, model)].append((n, s["c=4"][3], s["c=4"][4]))
    for (machine, model), points in sorted(series.items()):
        points.sort()
        line, = by_n.plot([p[0] // 1024 for p in points], [p[1] for p in points], "o-", label=f"{machine} {model}")
        by_n.plot([p[0] // 1024 for p in points], [p[2] for p in points], "x--", color=line.get_color())
    by_n.set_xlabel("sequence length N (K tokens)")
    by_n.set_ylabel("step speedup of WallFacer c = 4 over Ring")
    by_n.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cases = load(sys.argv[1])
    if "--markdown" in sys.argv:
        markdown(cases)
    plot(cases, sys.argv[2])


if __name__ == "__main__":
    main()
