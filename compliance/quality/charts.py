"""The quality report as pictures: category mix vs requested, length distribution, similarity histogram, flags per gate.

matplotlib with the Agg backend (no display). The machine has no CJK font, so category names that
are not ASCII are drawn as "c1", "c2", ... and ``render_charts`` returns that legend with the files.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CHARTS = ("category_mix", "length_distribution", "similarity_histogram", "flags_per_gate")


def _labels(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    shown, legend = [], {}
    for i, name in enumerate(names, start=1):
        if name.isascii():
            shown.append(name[:24])
        else:
            shown.append(f"c{i}")
            legend[f"c{i}"] = name
    return shown, legend


def render_charts(
    directory: Path,
    *,
    category_mix: Mapping[str, Any],
    lengths: Sequence[int],
    similarities: Sequence[float],
    flags_per_gate: Mapping[str, int],
) -> dict[str, Any]:
    """Write the four PNGs into ``directory``; returns {"files": {chart: path}, "legend": {...}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    requested = dict(category_mix.get("requested") or {})
    actual = dict(category_mix.get("actual") or {})
    names = sorted(set(requested) | set(actual))
    shown, legend = _labels(names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [actual.get(n, 0) for n in names], width=0.4, label="actual")
        if requested:
            ax.bar([i + 0.2 for i in x], [requested.get(n, 0) for n in names], width=0.4, label="requested")
        ax.set_xticks(list(x), shown, rotation=30, ha="right")
        ax.set_ylabel("share of records")
        ax.set_title("Category mix: actual vs requested")
        ax.legend()
        files["category_mix"] = _save(fig, directory / "category_mix.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(list(lengths) or [0], bins=30)
        ax.set_xlabel("record length (characters)")
        ax.set_ylabel("records")
        ax.set_title("Length distribution")
        files["length_distribution"] = _save(fig, directory / "length_distribution.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(list(similarities) or [0], bins=20, range=(0, 1))
        ax.set_xlabel("calibrated similarity to the task / domain")
        ax.set_ylabel("records")
        ax.set_title("Relevance similarity histogram")
        files["similarity_histogram"] = _save(fig, directory / "similarity_histogram.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        gates = list(flags_per_gate)
        ax.bar(gates, [flags_per_gate[g] for g in gates])
        ax.set_ylabel("flagged records")
        ax.set_title("Flags per gate")
        ax.tick_params(axis="x", rotation=30)
        files["flags_per_gate"] = _save(fig, directory / "flags_per_gate.png")
    plt.close("all")
    return {"files": files, "legend": legend}


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return str(path)
