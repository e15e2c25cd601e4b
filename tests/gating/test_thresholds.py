"""Tests for gating.thresholds: a bad threshold or key is named; the table round-trips."""

from __future__ import annotations

import math
import pickle

import pytest

from gating import GatingConfigError, ModelGatingConfig


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"approved_min_fitness": math.nan}, "approved_min_fitness"),
        ({"review_min_pf": math.inf}, "review_min_pf"),
        ({"approved_min_pf": 10**400}, "approved_min_pf: 1000000"),
        ({"review_min_fitness": 0.8}, "review_min_fitness"),
        ({"review_min_pf": 2.0}, "review_min_pf"),
        ({"review_min_consistency": 0.9}, "review_min_consistency"),
        ({"review_max_drawdown": 0.05}, "review_max_drawdown"),
        ({"approved_min_consistency": 1.5}, "approved_min_consistency"),
        ({"review_max_drawdown": -0.1}, "review_max_drawdown"),
        ({"fitness_decline_threshold": -0.01}, "fitness_decline_threshold"),
        ({"fitness_oscillation_threshold": -1}, "fitness_oscillation_threshold"),
        ({"approved_min_pf": "1.8"}, "approved_min_pf"),
        ({"approved_min_pf": True}, "approved_min_pf"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    """A bad threshold is a ValueError subclass whose message names the field."""
    with pytest.raises(GatingConfigError, match=field) as caught:
        ModelGatingConfig(**kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_config_from_mapping_names_unknown_key() -> None:
    """An unknown key in a thresholds mapping is named."""
    with pytest.raises(GatingConfigError, match="approved_min_fitnes"):
        ModelGatingConfig.from_mapping({"approved_min_fitnes": 0.7})


def test_the_table_and_a_pickle_give_the_same_config() -> None:
    """as_table/from_mapping and pickling (for worker processes) keep every threshold."""
    config = ModelGatingConfig.from_mapping(
        {"approved_min_fitness": 0.8, "champion": {"fitness": 0.05}}
    )
    assert ModelGatingConfig.from_mapping(config.as_table()) == config
    assert pickle.loads(pickle.dumps(config)) == config
    assert config.bounds("fitness") == (0.8, 0.5)
