#!/usr/bin/env python3
"""Per-rank timeline of a WallFacer results file (the /trace section, docs/results.md).

One row per rank. The upper half of a row shows compute phases, the lower half communication
(p2p_wait, collective, grad_allreduce), so communication hidden behind compute shows up as both
halves filled at the same time, and exposed communication as the lower half alone.

Needs python3 with h5py and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import sys

COMMUNICATION = ("p2p_wait", "collective", "grad_allreduce")
COLOURS = {  # compute: blues, greens, purples, browns; communication: reds, oranges, pinks
    "embedding": "#9ecae1", "layer_norm": "#6baed6", "projection": "#2171b5",
    "attention_compute": "#31a354", "mlp_other": "#a1d99b", "loss": "#9467bd",
    "optimizer": "#8c6d31", "other": "#bdbdbd",
    "p2p_wait": "#d62728", "collective": "#ff7f0e", "grad_allreduce": "#e377c2",
}


def fail(message):
    sys.exit(f"plot_timeline.py: error: {message}")


def import_libraries():
    try:
        import h5py
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
        import numpy
    except ImportError as error:
        fail(f"{error}; this tool needs python3 with h5py and matplotlib "
             "(Debian: apt install python3-h5py python3-matplotlib)")
    return h5py, pyplot, numpy


def dataset(results, path, name):
    if path not in results or not hasattr(results[path], "shape"):
        fail(f"{name}: no dataset {path} (not a WallFacer results file, or written without it)")
    return results[path][...]


def text_attribute(node, key, default=""):
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def main():
    parser = argparse.ArgumentParser(
        description="Per-rank timeline of the trace in a WallFacer results file: compute phases in "
                    "the upper half of each rank's row, communication in the lower half.")
    parser.add_argument("results", help="results file (HDF5) written by WallFacer")
    parser.add_argument("-o", "--output", default="timeline.png", help="image to write (default: timeline.png)")
    parser.add_argument("--step", type=int, default=None,
                        help="only the events of training step K (default: every step in the trace)")
    args = parser.parse_args()
    h5py, pyplot, numpy = import_libraries()

    try:
        results = h5py.File(args.results, "r")
    except OSError as error:
        fail(f"cannot open {args.results}: {error}")
    with results:
        columns = {field: dataset(results, f"/trace/{field}", args.results)
                   for field in ("rank", "step", "phase", "begin", "end")}
        phases = text_attribute(results["/trace"], "phases").split("\n")
        problem = text_attribute(results, "problem", "?")
        ranks = int(results.attrs.get("ranks", 0))
    if len(columns["rank"]) == 0:
        fail(f"{args.results}: the trace is empty (was the run traced?)")
    steps_in_trace = numpy.unique(columns["step"])
    if args.step is not None:
        keep = columns["step"] == args.step
        if not keep.any():
            fail(f"{args.results}: no events of step {args.step}; the trace has steps "
                 f"{', '.join(str(s) for s in steps_in_trace)}")
        columns = {field: values[keep] for field, values in columns.items()}
    ranks = max(ranks, int(columns["rank"].max()) + 1)

    origin = columns["begin"].min()
    span = columns["end"].max() - origin
    scale, unit = (1e3, "ms") if span < 2.0 else (1.0, "s")
    figure, axes = pyplot.subplots(figsize=(12, max(3.8, 1.6 + 0.55 * ranks)))
    lane = 0.4  # height of the compute and communication lanes; rows are 1 apart
    shown = []
    for index in numpy.unique(columns["phase"]):
        name = phases[index] if 0 <= index < len(phases) else f"phase {index}"
        communication = name in COMMUNICATION
        of_phase = columns["phase"] == index
        for rank in numpy.unique(columns["rank"][of_phase]):
            selected = of_phase & (columns["rank"] == rank)
            begin = (columns["begin"][selected] - origin) * scale
            width = (columns["end"][selected] - columns["begin"][selected]) * scale
            bottom = rank if communication else rank - lane  # the y axis points down
            axes.broken_barh(list(zip(begin, width)), (bottom, lane), facecolors=COLOURS.get(name, "#7f7f7f"),
                             edgecolor="none")
        shown.append((communication, index, name))

    axes.set_ylim(ranks - 0.5, -0.5)  # rank 0 on top
    axes.set_yticks(range(ranks))
    axes.set_yticklabels([f"rank {r}" for r in range(ranks)])
    axes.set_xlim(0, span * scale)
    axes.set_xlabel(f"time ({unit}) since the first event shown")
    axes.set_ylabel("upper half: compute\nlower half: communication")
    for r in range(ranks + 1):
        axes.axhline(r - 0.5, color="#e0e0e0", linewidth=0.8)
    which = f"step {args.step}" if args.step is not None else (
        f"steps {steps_in_trace[0]}-{steps_in_trace[-1]}" if len(steps_in_trace) > 1 else f"step {steps_in_trace[0]}")
    axes.set_title(f"{problem} on {ranks} rank{'s' if ranks != 1 else ''}: trace of {which}")
    handles = [pyplot.Rectangle((0, 0), 1, 1, color=COLOURS.get(name, "#7f7f7f"))
               for _, _, name in sorted(shown)]
    labels = [name + (" (comm)" if communication else "") for communication, _, name in sorted(shown)]
    axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"plot_timeline.py: wrote {args.output}")


if __name__ == "__main__":
    main()
