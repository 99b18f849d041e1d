"""How values are worded next to their goal: the shown number never contradicts the verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from geoaccess.results import goal_text, value_text


@dataclass
class _Target:
    metric: str
    goal: float
    threshold_min: float = 15.0


def _number(text: str) -> Decimal:
    """The first number of a worded value or goal, as a reader takes it (thousands commas dropped)."""
    return Decimal(re.search(r"-?[\d,]+(?:\.\d+)?", text).group().replace(",", ""))


def _reader_says_pass(value: float, target: _Target, lang: str) -> bool:
    shown, goal = _number(value_text(value, target, lang)), _number(goal_text(target, lang))
    return shown <= goal if target.metric == "mean_time" else shown >= goal


def _verdict(value: float, target: _Target) -> bool:
    return value <= target.goal if target.metric == "mean_time" else value >= target.goal


goals_share = st.integers(500, 999).map(lambda k: k / 1000)  # 0.5 .. 0.999 as written in a TOML file
near = st.floats(-0.002, 0.002)


@settings(max_examples=400, deadline=None)
@given(goal=goals_share, delta=near, lang=st.sampled_from(["zh", "en"]))
@example(goal=0.9, delta=0.89978 - 0.9, lang="zh")  # the case: not "90.0% 未达标"
@example(goal=0.9, delta=-1e-16, lang="en")
@example(goal=0.9, delta=0.0, lang="en")
def test_share_display_agrees_with_the_verdict(goal, delta, lang):
    target = _Target("share_within", goal)
    value = min(max(goal + delta, 0.0), 1.0)
    assert _reader_says_pass(value, target, lang) == _verdict(value, target), (value, value_text(value, target, lang))


@settings(max_examples=300, deadline=None)
@given(goal=st.sampled_from([10.0, 12.5, 15.0, 30.0, 8.25]), value=st.floats(0.0, 200.0),
       lang=st.sampled_from(["zh", "en"]))
@example(goal=15.0, value=15.04, lang="en")
@example(goal=15.0, value=15.0000001, lang="zh")
def test_mean_minutes_display_agrees_with_the_verdict(goal, value, lang):
    target = _Target("mean_time", goal)
    assert _reader_says_pass(value, target, lang) == _verdict(value, target), value_text(value, target, lang)


@settings(max_examples=300, deadline=None)
@given(goal=st.sampled_from([6.9, 3.5, 1.0, 0.66]), value=st.floats(0.0, 20.0), lang=st.sampled_from(["zh", "en"]))
@example(goal=6.9, value=6.899, lang="zh")
@example(goal=6.9, value=6.8999999999, lang="en")
def test_per_1000_display_agrees_with_the_verdict(goal, value, lang):
    target = _Target("per_1000", goal)
    assert _reader_says_pass(value, target, lang) == _verdict(value, target), value_text(value, target, lang)


def test_usual_values_keep_one_decimal_and_missing_ones_are_words():
    share, mean = _Target("share_within", 0.9), _Target("mean_time", 15.0)
    assert value_text(0.984, share, "en") == "98.4%"
    assert value_text(0.89978, share, "zh") == "89.98%"  # by hand: 89.978 % rounds to 90.0 at one decimal
    assert value_text(15.04, mean, "en") == "15.04 min"  # 15.0 would read as meeting ≤ 15
    assert value_text(5.12, mean, "zh") == "5.1 分钟"
    assert value_text(float("nan"), share, "zh") == "无数据"
    assert value_text(float("inf"), mean, "zh") == "不可达"
    assert goal_text(_Target("share_within", 0.905), "en").startswith("≥ 90.5%")  # not "≥ 91%"
    for v in (float("nan"), None, float("inf")):
        assert "nan" not in value_text(v, mean, "en").lower()
