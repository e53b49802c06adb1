"""The HDF5 report of tools/gpu_check.sh: usage gpu_check_report.py OUT_DIR.

Reads OUT_DIR/steps.tsv (step, status, seconds, log or reason) and the logs of the kernel,
attention and training steps; writes OUT_DIR/gpu_check_report.h5 (layout in docs/building.md,
"Checking a GPU"):
  /                      attributes: date, text (the text report)
  /steps                 datasets name, status, seconds, detail (one entry per step)
  /kernel                one group per tile path: the numbers of its PERFORMANCE line
  /train                 attributes: the training summary values (memory high-water, predicted, ...)
"""
import os
import re
import sys
import time

import h5py


def performance_lines(path, problem):
    """Key=value pairs of every PERFORMANCE line of `problem` in a log."""
    if not os.path.exists(path):
        return []
    found = []
    with open(path) as log:
        for line in log:
            if line.startswith(f"PERFORMANCE problem={problem}"):
                found.append(dict(item.split("=", 1) for item in line.split()[1:] if "=" in item))
    return found


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def memory_rows(path):
    """The measured and predicted memory rows of the training summary (MiB, first column)."""
    if not os.path.exists(path):
        return {}
    values = {}
    with open(path) as log:
        lines = log.read().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\|?\s*peak (?!resident).* memory per rank", line) and i + 1 < len(lines):
            values["memory_space_peak_mib"] = number(re.split(r"\s*\|\s*|\s{2,}", line.strip(" |"))[-1])
            values["memory_space_predicted_mib"] = number(re.split(r"\s*\|\s*|\s{2,}", lines[i + 1].strip(" |"))[-1])
    return values


def main(out):
    steps = []
    with open(os.path.join(out, "steps.tsv")) as table:
        for row in table:
            name, status, seconds, detail = row.rstrip("\n").split("\t")
            steps.append((name, status, float(seconds), detail))
    with open(os.path.join(out, "gpu_check_report.txt")) as text:
        report = text.read()
    strings = h5py.string_dtype()
    with h5py.File(os.path.join(out, "gpu_check_report.h5"), "w") as h5:
        h5.attrs["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        h5.attrs["text"] = report
        group = h5.create_group("steps")
        group.create_dataset("name", data=[s[0] for s in steps], dtype=strings)
        group.create_dataset("status", data=[s[1] for s in steps], dtype=strings)
        group.create_dataset("seconds", data=[s[2] for s in steps])
        group.create_dataset("detail", data=[s[3] for s in steps], dtype=strings)
        kernel = h5.create_group("kernel")
        for line in performance_lines(os.path.join(out, "logs", "kernel.log"), "kernel"):
            path = kernel.create_group(line.get("path", "?"))
            for key, value in line.items():
                path.attrs[key] = number(value) if number(value) is not None else value
        train = h5.create_group("train")
        for key, value in memory_rows(os.path.join(out, "logs", "train.log")).items():
            if value is not None:
                train.attrs[key] = value
        for line in performance_lines(os.path.join(out, "logs", "train.log"), "train")[:1]:
            for key, value in line.items():
                train.attrs[key] = number(value) if number(value) is not None else value
    print(f"gpu_check: wrote {os.path.join(out, 'gpu_check_report.h5')}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpu_check_report.py OUT_DIR")
    main(sys.argv[1])
