"""Config schemas generated from the classes' signatures: one typed key per argument."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Literal

import pytest
from omegaconf import OmegaConf

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.schemas import schema_of


def test_the_data_schema_has_one_key_per_argument_of_the_data_module_typed_as_annotated():
    fields = {f.name: f for f in dataclasses.fields(schema_of(ImageDataModule))}
    assert list(fields)[1:] == list(inspect.signature(ImageDataModule).parameters)
    assert fields["batch_size"].type is int and fields["batch_size"].default == 256
    assert fields["canvas_size"].type == (int | None)
    assert fields["train_placement"].type is str  # a Literal: ImageDataModule checks the values


class FutureDataModule:
    def __init__(
        self,
        batch_size: int = 256,
        permutation_scope: str = "image",
        block_size: int | None = None,
        placement: Literal["random", "center"] = "random",
        devices: list[int] | str | int = "auto",
        transform: Callable[[Any], Any] | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        **kwargs: Any,
    ) -> None:
        pass


def test_a_new_argument_of_a_class_is_a_new_typed_key_of_its_schema():
    schema = schema_of(FutureDataModule)
    types = {f.name: f.type for f in dataclasses.fields(schema)}
    assert types == {
        "_target_": str,
        "batch_size": int,
        "permutation_scope": str,
        "block_size": int | None,
        "placement": str,
        "devices": Any,  # a union OmegaConf cannot check
        "transform": Any,  # a callable
    }  # betas left out: a config would give a list for its tuple
    cfg = OmegaConf.structured(schema)
    assert (cfg.permutation_scope, cfg.block_size) == ("image", None)
    with pytest.raises(Exception, match="could not be converted to Integer"):
        cfg.block_size = "abc"
