#!/usr/bin/env python3
"""Per-rank timeline of a WallFacer results file (the /trace section, docs/results.md).

One row per rank. The upper half of a row shows compute phases, the lower half communication
(p2p_wait, collective, grad_allreduce), so communication hidden behind compute shows up as both
halves filled at the same time, and exposed communication as the lower half alone.

Needs python3 with h5py and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wf_results.py lies beside this tool
from wf_results import (COLOURS, COMMUNICATION, Tool, add_output_argument, add_results_argument,  # noqa: E402
                        on_ranks, phase_names, problem_and_ranks)

tool = Tool("plot_timeline.py")


def main():
    parser = argparse.ArgumentParser(
        description="Per-rank timeline of the trace in a WallFacer results file: compute phases in "
                    "the upper half of each rank's row, communication in the lower half.")
    add_results_argument(parser)
    add_output_argument(parser, "timeline.png")
    parser.add_argument("--step", type=int, default=None,
                        help="only the events of training step K (default: every step in the trace)")
    args = parser.parse_args()
    h5py, pyplot, numpy = tool.import_libraries()

    with tool.open_results(h5py, args.results) as results:
        columns = {field: tool.dataset(results, f"/trace/{field}", args.results)
                   for field in ("rank", "step", "phase", "begin", "end")}
        phases = phase_names(results["/trace"])
        problem, ranks = problem_and_ranks(results)
    if len(columns["rank"]) == 0:
        tool.fail(f"{args.results}: the trace is empty (was the run traced?)")
    steps_in_trace = numpy.unique(columns["step"])
    if args.step is not None:
        keep = columns["step"] == args.step
        if not keep.any():
            tool.fail(f"{args.results}: no events of step {args.step}; the trace has steps "
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
    axes.set_title(f"{on_ranks(problem, ranks)}: trace of {which}")
    handles = [pyplot.Rectangle((0, 0), 1, 1, color=COLOURS.get(name, "#7f7f7f"))
               for _, _, name in sorted(shown)]
    labels = [name + (" (comm)" if communication else "") for communication, _, name in sorted(shown)]
    axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    tool.save(figure, args.output)


if __name__ == "__main__":
    main()
