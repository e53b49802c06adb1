"""Shared parts of the WallFacer plot tools (plot_timeline.py, plot_steps.py, plot_compare.py):
phase colours, the command-line arguments they have in common, opening a results file
(docs/results.md) and reading its datasets and attributes, errors and the written image.

Not a tool itself: the tools import it from their own folder.
"""
import sys

COMMUNICATION = ("p2p_wait", "collective", "grad_allreduce")
COLOURS = {  # compute: blues, greens, purples, browns; communication: reds, oranges, pinks
    "embedding": "#9ecae1", "layer_norm": "#6baed6", "projection": "#2171b5",
    "interaction": "#31a354", "mlp_other": "#a1d99b", "loss": "#9467bd",
    "optimizer": "#8c6d31", "other": "#bdbdbd", "reorder": "#fdd0a2", "residual": "#c7e9c0",
    "p2p_wait": "#d62728", "collective": "#ff7f0e", "grad_allreduce": "#e377c2",
}


def add_results_argument(parser):
    """The one results file a tool reads."""
    parser.add_argument("results", help="results file (HDF5) written by WallFacer")


def add_output_argument(parser, default):
    """-o/--output: the image to write."""
    parser.add_argument("-o", "--output", default=default, help=f"image to write (default: {default})")


def text_attribute(node, key, default=""):
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def phase_names(group):
    """The phase names of a /trace or /timers group (its attribute phases, one name a line)."""
    return text_attribute(group, "phases").split("\n")


def problem_and_ranks(results):
    """The run's problem ("?" when missing) and number of ranks (0 when missing)."""
    return text_attribute(results, "problem", "?"), int(results.attrs.get("ranks", 0))


def on_ranks(problem, ranks):
    """"PROBLEM on N rank(s)", the start of a plot title."""
    return f"{problem} on {ranks} rank{'s' if ranks != 1 else ''}"


class Tool:
    """Errors and output of the tool called `name` (its file name, as it prefixes messages)."""

    def __init__(self, name):
        self.name = name

    def fail(self, message):
        sys.exit(f"{self.name}: error: {message}")

    def import_libraries(self):
        """h5py, matplotlib.pyplot (Agg backend) and numpy, or a clear error."""
        try:
            import h5py
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as pyplot
            import numpy
        except ImportError as error:
            self.fail(f"{error}; this tool needs python3 with h5py and matplotlib "
                      "(Debian: apt install python3-h5py python3-matplotlib)")
        return h5py, pyplot, numpy

    def open_results(self, h5py, path):
        """The results file at `path` opened for reading, or a clear error."""
        try:
            return h5py.File(path, "r")
        except OSError as error:
            self.fail(f"cannot open {path}: {error}")

    def dataset(self, results, path, name):
        """The values of dataset `path` in `results` (the file called `name`), or a clear error."""
        if path not in results or not hasattr(results[path], "shape"):
            self.fail(f"{name}: no dataset {path} (not a WallFacer results file, or written without it)")
        return results[path][...]

    def save(self, figure, output):
        figure.tight_layout()
        figure.savefig(output, dpi=120)
        print(f"{self.name}: wrote {output}")
