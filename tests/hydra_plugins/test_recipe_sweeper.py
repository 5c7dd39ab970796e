"""The recipe sweeper: jobs expanded in the order of Hydra's basic sweeper; ranges refused."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from hydra_plugins.recipe_sweeper import cartesian_jobs


def test_the_sweeper_expands_jobs_in_the_basic_sweepers_order_and_refuses_ranges():
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(["model=mlp,lenet5", "seed=1", "data=a,b"])
    assert cartesian_jobs(overrides) == [
        ["model=mlp", "seed=1", "data=a"],
        ["model=mlp", "seed=1", "data=b"],
        ["model=lenet5", "seed=1", "data=a"],
        ["model=lenet5", "seed=1", "data=b"],
    ]
    with pytest.raises(HydraException, match="not a list of values"):
        cartesian_jobs(parser.parse_overrides(["optimizer.lr=interval(0.001, 0.1)"]))
