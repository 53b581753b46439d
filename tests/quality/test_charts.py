"""Charts: Chinese category names drawn with an installed CJK font; coded c1, c2... with a caption only without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.quality import charts
from compliance.quality.charts import _covers, find_cjk_font, render_charts

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # fonts-wqy-zenhei: on this machine and in CI
MIX = {"requested": {"挂失": 0.5, "转账": 0.3, "fees": 0.2}, "actual": {"挂失": 0.4, "转账": 0.4, "fees": 0.2}}


def draw(directory: Path, mix: dict = MIX) -> dict:
    return render_charts(directory, category_mix=mix, lengths=[10, 20, 30], similarities=[0.2, 0.9],
                         flags_per_gate={"relevance": 1, "duplicate": 0})


def assert_pngs(result: dict) -> None:
    assert set(result["files"]) == set(charts.CHARTS)
    for path in result["files"].values():
        assert Path(path).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not WQY.is_file(), reason="needs fonts-wqy-zenhei (installed on the project's machines and CI)")
def test_chinese_names_are_drawn_with_the_installed_cjk_font(tmp_path) -> None:
    found = find_cjk_font()
    assert found is not None and _covers(found[1], "挂失转账零售银行")
    result = draw(tmp_path)
    assert result["font"] == found[0] and result["legend"] == {} and result["caption"] == ""
    assert result["labels"] == ["fees", "挂失", "转账"]
    assert result["missing_glyphs"] == []  # matplotlib found a glyph for every character it drew
    assert_pngs(result)


def test_without_a_cjk_font_names_are_coded_and_the_chart_says_what_the_codes_mean(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(charts, "find_cjk_font", lambda: None)
    result = draw(tmp_path)
    assert result["font"] is None
    assert result["labels"] == ["fees", "c2", "c3"]
    assert result["legend"] == {"c2": "挂失", "c3": "转账"}
    assert result["caption"] == "No installed font draws these names, shown as codes (pinyin): c2 = gua shi; c3 = zhuan zhang"  # noqa: E501
    assert result["missing_glyphs"] == []
    assert_pngs(result)


@pytest.mark.skipif(not WQY.is_file(), reason="needs fonts-wqy-zenhei")
def test_a_name_the_font_cannot_draw_is_coded_even_with_a_cjk_font(tmp_path) -> None:
    result = draw(tmp_path, {"actual": {"挂失": 0.5, "\U0001f600": 0.5}})
    assert result["labels"] == ["挂失", "c2"] and result["legend"] == {"c2": "\U0001f600"}
    assert "c2 = \\U0001f600" in result["caption"]


def test_no_cjk_font_installed_is_reported_as_none(monkeypatch) -> None:
    from matplotlib import font_manager

    find_cjk_font.cache_clear()
    monkeypatch.setattr(charts, "CJK_FONT_PATHS", ())
    others = [f for f in font_manager.fontManager.ttflist if not any(f.name.startswith(c) for c in charts.CJK_FAMILIES)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", others)
    try:
        assert find_cjk_font() is None
    finally:
        find_cjk_font.cache_clear()
