"""The quality report as pictures: category mix vs requested, length distribution, similarity histogram, flags per gate.

matplotlib with the Agg backend (no display). Category names are often Chinese, so a CJK font is
looked for at run time: fonts matplotlib knows whose family is a known CJK family, then known
install paths (Debian's fonts-wqy-zenhei, fonts-wqy-microhei, fonts-noto-cjk, Droid Sans Fallback,
Adobe Source Han Sans), and the first one that has glyphs for the text is used, with DejaVu Sans
first for Latin text. Only when none is installed (or it lacks a name's characters) is a name drawn
as "c1", "c2", ...; the chart then says so in a caption with the pinyin of each name, and
``render_charts`` returns the legend ``{"c1": name}`` so the report can show the real names.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CHARTS = ("category_mix", "length_distribution", "similarity_histogram", "flags_per_gate")

CJK_FAMILIES = ("Noto Sans CJK", "Noto Serif CJK", "Source Han Sans", "Source Han Serif", "WenQuanYi",
                "Droid Sans Fallback", "AR PL", "SimHei", "Microsoft YaHei", "PingFang", "Heiti", "Hiragino Sans GB")
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
PROBE = "零售银行挂失转账"  # common characters any CJK font covers


def _covers(path: str, text: str) -> bool:
    """True when the font file has a glyph for every non-space character of ``text``."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in text if not ch.isspace())


@functools.cache
def find_cjk_font() -> tuple[str, str] | None:
    """(family name, file) of an installed font that draws Chinese, or None; looked up once per process."""
    from matplotlib import font_manager

    candidates = [f.fname for f in font_manager.fontManager.ttflist
                  if any(f.name.startswith(family) for family in CJK_FAMILIES)]
    candidates += [p for p in CJK_FONT_PATHS if Path(p).is_file()]
    for path in dict.fromkeys(candidates):
        if not _covers(path, PROBE):
            continue
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
        return name, path
    return None


def _pinyin(name: str) -> str:
    try:
        from pypinyin import lazy_pinyin

        text = " ".join(lazy_pinyin(name))
    except ImportError:
        text = ""
    return text if text.isascii() and text.strip() else name.encode("unicode_escape").decode("ascii")


def _labels(names: Sequence[str], font: tuple[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """What each tick shows: the name itself when some installed font draws it, else c1, c2, ..."""
    shown, legend = [], {}
    for i, name in enumerate(names, start=1):
        if name.isascii() or (font is not None and _covers(font[1], name)):
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
    """Write the four PNGs into ``directory``.

    Returns {"files": {chart: path}, "legend": {"c1": name, ...} (empty unless a name could not be
    drawn), "font": the CJK font family used or None, "labels": the category tick labels, "caption":
    the note under the category chart, "missing_glyphs": matplotlib's warnings of characters no font
    drew (empty when the labels rendered)}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    requested = dict(category_mix.get("requested") or {})
    actual = dict(category_mix.get("actual") or {})
    names = sorted(set(requested) | set(actual))
    font = find_cjk_font()
    shown, legend = _labels(names, font)
    families = ["DejaVu Sans", font[0]] if font else ["DejaVu Sans"]
    caption = ""
    if legend:
        caption = ("No installed font draws these names, shown as codes (pinyin): "
                   + "; ".join(f"{code} = {_pinyin(name)}" for code, name in legend.items()))
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)  # "weight normal not found, using 500": the CJK font only has Medium
    try:
        with warnings.catch_warnings(record=True) as caught, plt.rc_context({"font.family": families}):
            warnings.simplefilter("always")
            fig, ax = plt.subplots(figsize=(7, 3.8 if caption else 3.5))
            x = range(len(names))
            ax.bar([i - 0.2 for i in x], [actual.get(n, 0) for n in names], width=0.4, label="actual")
            if requested:
                ax.bar([i + 0.2 for i in x], [requested.get(n, 0) for n in names], width=0.4, label="requested")
            ax.set_xticks(list(x), shown, rotation=30, ha="right")
            ax.set_ylabel("share of records")
            ax.set_title("Category mix: actual vs requested")
            ax.legend()
            if caption:
                fig.text(0.01, 0.01, caption, fontsize=7, ha="left", va="bottom", wrap=True)
            files["category_mix"] = _save(fig, directory / "category_mix.png", bottom=0.12 if caption else None)

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
            ax.set_title(f"Relevance similarity histogram ({len(similarities)} records)")
            files["similarity_histogram"] = _save(fig, directory / "similarity_histogram.png")

            fig, ax = plt.subplots(figsize=(7, 3.5))
            gates = list(flags_per_gate)
            ax.bar(gates, [flags_per_gate[g] for g in gates])
            ax.set_ylabel("flagged records")
            ax.set_title("Flags per gate")
            ax.tick_params(axis="x", rotation=30)
            files["flags_per_gate"] = _save(fig, directory / "flags_per_gate.png")
    finally:
        plt.close("all")
        font_log.setLevel(level)
    missing = sorted({str(w.message) for w in caught if "missing from font" in str(w.message)})
    return {"files": files, "legend": legend, "font": font[0] if font else None, "labels": shown,
            "caption": caption, "missing_glyphs": missing}


def _save(fig: Any, path: Path, *, bottom: float | None = None) -> str:
    fig.tight_layout()
    if bottom is not None:
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, bottom + 0.18))
    fig.savefig(path, dpi=90)
    return str(path)
