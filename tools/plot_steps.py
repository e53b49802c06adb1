#!/usr/bin/env python3
"""Loss and throughput per training step of a WallFacer results file (the /steps section,
docs/results.md). Warm-up steps (timed = 0) are shaded and drawn with hollow markers.

Needs python3 with h5py and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import sys


def fail(message):
    sys.exit(f"plot_steps.py: error: {message}")


def import_libraries():
    try:
        import h5py
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError as error:
        fail(f"{error}; this tool needs python3 with h5py and matplotlib "
             "(Debian: apt install python3-h5py python3-matplotlib)")
    return h5py, pyplot


def dataset(results, path, name):
    if path not in results or not hasattr(results[path], "shape"):
        fail(f"{name}: no dataset {path} (not a WallFacer results file, or written without it)")
    return results[path][...]


def text_attribute(node, key, default=""):
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def main():
    parser = argparse.ArgumentParser(
        description="Loss and tokens/s per training step of a WallFacer results file, warm-up steps marked.")
    parser.add_argument("results", help="results file (HDF5) written by WallFacer")
    parser.add_argument("-o", "--output", default="steps.png", help="image to write (default: steps.png)")
    args = parser.parse_args()
    h5py, pyplot = import_libraries()

    try:
        results = h5py.File(args.results, "r")
    except OSError as error:
        fail(f"cannot open {args.results}: {error}")
    with results:
        step = dataset(results, "/steps/step", args.results)
        loss = dataset(results, "/steps/loss", args.results)
        rate = dataset(results, "/steps/tokens_per_second", args.results)
        timed = dataset(results, "/steps/timed", args.results).astype(bool)
        problem = text_attribute(results, "problem", "?")
        ranks = int(results.attrs.get("ranks", 0))
    if len(step) == 0:
        fail(f"{args.results}: /steps is empty (no training steps recorded)")

    figure, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(9, 6.5))
    warmup = ~timed
    for axes, values, label, colour in ((top, loss, "loss", "#1f77b4"),
                                        (bottom, rate, "tokens/s", "#2ca02c")):
        axes.plot(step, values, color=colour, linewidth=1.2, zorder=1)
        axes.scatter(step[timed], values[timed], color=colour, s=18, zorder=2, label="timed step")
        if warmup.any():
            axes.scatter(step[warmup], values[warmup], facecolors="white", edgecolors=colour, s=30, zorder=3,
                         label="warm-up step (not timed)")
            for s in step[warmup]:
                axes.axvspan(s - 0.5, s + 0.5, color="#f2f2f2", zorder=0, linewidth=0)
        axes.set_ylabel(label)
        axes.grid(True, color="#e6e6e6", linewidth=0.6)
    if timed.any():
        mean = rate[timed].mean()
        bottom.axhline(mean, color="#555555", linestyle="--", linewidth=0.9,
                       label=f"mean of timed steps: {mean:,.0f} tokens/s")
    top.legend(loc="upper right", fontsize="small")
    bottom.legend(loc="lower right", fontsize="small")
    bottom.set_xlabel("step")
    bottom.set_ylim(bottom=0)
    top.set_title(f"{problem} on {ranks} rank{'s' if ranks != 1 else ''}: loss and throughput per step")
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"plot_steps.py: wrote {args.output}")


if __name__ == "__main__":
    main()
