#!/usr/bin/env python3
"""Loss and throughput per training step of a WallFacer results file (the /steps section,
docs/results.md). Warm-up steps (timed = 0) are shaded and drawn with hollow markers.

Needs python3 with h5py and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wf_results.py lies beside this tool
from wf_results import Tool, add_output_argument, add_results_argument, on_ranks, problem_and_ranks  # noqa: E402

tool = Tool("plot_steps.py")


def main():
    parser = argparse.ArgumentParser(
        description="Loss and tokens/s per training step of a WallFacer results file, warm-up steps marked.")
    add_results_argument(parser)
    add_output_argument(parser, "steps.png")
    args = parser.parse_args()
    h5py, pyplot, _ = tool.import_libraries()

    with tool.open_results(h5py, args.results) as results:
        step = tool.dataset(results, "/steps/step", args.results)
        loss = tool.dataset(results, "/steps/loss", args.results)
        rate = tool.dataset(results, "/steps/tokens_per_second", args.results)
        timed = tool.dataset(results, "/steps/timed", args.results).astype(bool)
        problem, ranks = problem_and_ranks(results)
    if len(step) == 0:
        tool.fail(f"{args.results}: /steps is empty (no training steps recorded)")

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
    top.set_title(f"{on_ranks(problem, ranks)}: loss and throughput per step")
    tool.save(figure, args.output)


if __name__ == "__main__":
    main()
