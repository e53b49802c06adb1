#!/usr/bin/env python3
"""Compares WallFacer results files (docs/results.md): throughput of each run (left) and its
mean time per phase over the ranks (right, stacked). Runs are labelled with deck values.

Throughput is /summary/tokens_per_second when the file has it, else the mean of
/steps/tokens_per_second over the timed steps. Phase times are /timers/avg.

Needs python3 with h5py and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wf_results.py lies beside this tool
from wf_results import COLOURS, COMMUNICATION, Tool, add_output_argument, phase_names, text_attribute  # noqa: E402

tool = Tool("plot_compare.py")


def deck_values(text):
    """The deck as {"section.key": value}: tomllib where there is one, else a line parser that
    understands what WallFacer writes (sections, key = scalar)."""
    values = {}
    try:
        import tomllib
        def flatten(table, prefix):
            for key, value in table.items():
                if isinstance(value, dict):
                    flatten(value, f"{prefix}{key}.")
                else:
                    values[prefix + key] = value
        flatten(tomllib.loads(text), "")
        return values
    except (ImportError, ValueError):
        values.clear()
    section = ""
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("[") and "]" in line:
            section = line[1:line.index("]")].strip() + "."
        elif "=" in line and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            if value.startswith('"') and '"' in value[1:]:
                value = value[1:value.index('"', 1)]
            else:
                value = value.split("#", 1)[0].strip()
            values[section + key] = value
    return values


def load(path, label_keys, numpy, h5py):
    with tool.open_results(h5py, path) as results:
        if "/summary/tokens_per_second" in results:
            rate = float(results["/summary/tokens_per_second"][()])
        else:
            rates = tool.dataset(results, "/steps/tokens_per_second", path)
            timed = tool.dataset(results, "/steps/timed", path).astype(bool)
            if not timed.any():
                tool.fail(f"{path}: no /summary/tokens_per_second and no timed step in /steps")
            rate = float(numpy.mean(rates[timed]))
        seconds = tool.dataset(results, "/timers/avg", path)
        if "/timers" not in results or "phases" not in results["/timers"].attrs:
            tool.fail(f"{path}: no attribute phases on /timers")
        phases = phase_names(results["/timers"])
        deck = deck_values(text_attribute(results, "deck"))
        ranks = int(results.attrs.get("ranks", 0))
    if len(phases) != len(seconds):
        tool.fail(f"{path}: /timers/avg has {len(seconds)} values for {len(phases)} phases")
    parts = [f"{key.split('.')[-1]}={deck.get(key, '?')}" for key in label_keys]
    label = "\n".join(parts + [f"ranks={ranks}"]) if parts else os.path.basename(path)
    return {"path": path, "label": label, "rate": rate, "phases": dict(zip(phases, seconds))}


def main():
    parser = argparse.ArgumentParser(
        description="Compare WallFacer results files: tokens/s and mean time per phase, one bar per file.")
    parser.add_argument("results", nargs="+", help="results files (HDF5) written by WallFacer")
    add_output_argument(parser, "compare.png")
    parser.add_argument("--label-key", default="parallel.schedule,parallel.team_size",
                        help="comma-separated deck keys that label each run "
                             "(default: parallel.schedule,parallel.team_size; empty: file names)")
    args = parser.parse_args()
    h5py, pyplot, numpy = tool.import_libraries()

    keys = [key.strip() for key in args.label_key.split(",") if key.strip()]
    runs = [load(path, keys, numpy, h5py) for path in args.results]
    plain = [run["label"] for run in runs]
    labels = [f"{label}\n#{plain[:i].count(label) + 1}" if plain.count(label) > 1 else label  # repeated settings
              for i, label in enumerate(plain)]
    # Every phase with time in some run, in the files' order.
    phases = list(dict.fromkeys(name for run in runs for name, value in run["phases"].items() if value > 0.0))

    x = numpy.arange(len(runs))
    width = 0.7
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(max(10, 4 + 2.6 * len(runs)), 5.5),
                                            gridspec_kw={"width_ratios": [1, 1.4]})
    bars = left.bar(x, [run["rate"] for run in runs], width, color="#4c72b0")
    left.bar_label(bars, labels=[f"{run['rate']:,.0f}" for run in runs], fontsize="small", padding=2)
    left.set_ylabel("tokens/s")
    left.set_title("throughput")
    bottom = numpy.zeros(len(runs))
    for name in phases:
        values = numpy.array([run["phases"].get(name, 0.0) for run in runs])
        right.bar(x, values, width, bottom=bottom, color=COLOURS.get(name, "#7f7f7f"),
                  label=name + (" (comm)" if name in COMMUNICATION else ""))
        bottom += values
    right.set_ylabel("seconds (mean over ranks)")
    right.set_title("time per phase")
    handles, names = right.get_legend_handles_labels()  # listed top-down, like the stack
    right.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                 fontsize="small")
    for axes in (left, right):
        axes.set_xticks(x)
        axes.set_xticklabels(labels, fontsize="small")
        axes.grid(True, axis="y", color="#e6e6e6", linewidth=0.6)
        axes.set_axisbelow(True)
    figure.suptitle(f"{len(runs)} run{'s' if len(runs) != 1 else ''} compared")
    tool.save(figure, args.output)


if __name__ == "__main__":
    main()
