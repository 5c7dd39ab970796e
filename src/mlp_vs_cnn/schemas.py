"""Config schemas generated from the classes' signatures, registered in Hydra's ConfigStore.

Hydra types `data.*`, `trainer.*` and `optimizer.*` when it composes the config, against dataclass
schemas stored under `schema/` and placed in the defaults lists of conf/train.yaml and
conf/eval.yaml before the option they type. `register_schemas` stores them; the project's Hydra
plugin (`hydra_plugins.mlp_vs_cnn_configs`) calls it when Hydra starts. Each schema is generated
from the typed signature of the class the config builds (`schema_of`): `ImageDataModule`,
Lightning's `Trainer`, each optimizer of `torch.optim` (under its class name in lower case: an
optimizer option named otherwise is typed when the run starts, like the models). So the schema
cannot drift from the code: a new argument of `ImageDataModule` is a new key, typed as it is
annotated; a key no argument takes, or a value of the wrong type, stops the command line before
anything runs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

import lightning as L
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from mlp_vs_cnn.data import ImageDataModule


@functools.cache
def schema_of(target: Callable, skip: tuple[str, ...] = (), partial: bool = False) -> type:
    """A dataclass schema of a config that builds `target`: `_target_` and one field per keyword
    argument of its signature, with its default (`???` if it has none), minus `skip`.

    Made from the signature rather than written out, so that it cannot drift from the code: an
    argument added to the class is a key of its config, typed as annotated. A field has the
    argument's annotation where OmegaConf can check it (int, float, bool, str, unions of those,
    Optional, lists and dicts of them; a Literal of strings is a str, whose values the class
    checks), else Any (Lightning's `devices`, a list or a str or an int; torch's `lr`, a float or
    a tensor; any class or callable). An argument whose default a config cannot hold as it is (a
    tuple, such as Adam's `betas`, would come back as a list) is left out. `partial`: the config
    is a factory (`_partial_: true`) that the caller completes, e.g. with the parameters.

    The composed config then holds every argument with its default, and `instantiate` passes them
    all: the same values as the class's own defaults (Lightning's PL_TRAINER_* environment
    variables, which only replace defaults of arguments not passed, no longer apply).
    """
    name = f"{target.__module__}.{target.__qualname__}"
    fields: list[tuple[str, Any, dataclasses.Field]] = [
        ("_target_", str, dataclasses.field(default=name))
    ]
    if partial:
        fields.append(("_partial_", bool, dataclasses.field(default=True)))
    hints = _annotations(target)
    for argument, parameter in inspect.signature(target).parameters.items():
        default = MISSING if parameter.default is parameter.empty else parameter.default
        variadic = parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        if argument in skip or variadic or isinstance(default, tuple):
            continue
        kind = _config_type(hints.get(argument, Any), default)
        fields.append((argument, kind, _field(default)))
    return dataclasses.make_dataclass(f"{target.__name__}Config", fields)


def _annotations(target: Callable) -> dict[str, Any]:
    function = inspect.unwrap(target.__init__ if inspect.isclass(target) else target)
    try:
        return typing.get_type_hints(function)
    except Exception:  # a name imported only for type checkers: its arguments are typed Any
        return {
            k: v for k, v in inspect.get_annotations(function).items() if not isinstance(v, str)
        }


def _config_type(annotation: Any, default: Any) -> Any:
    """`annotation` as OmegaConf can check it with this default, else Any."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal and all(isinstance(a, str) for a in args):
        annotation = str
    elif origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        inner = _config_type(inner, MISSING)
        annotation = Any if inner is Any else inner | None
    probe = dataclasses.make_dataclass("Probe", [("value", annotation, _field(default))])
    try:
        OmegaConf.structured(probe)
    except Exception:  # a type OmegaConf cannot check (a union, a class, a callable)
        return Any
    return annotation


def _field(default: Any) -> dataclasses.Field:
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default))
    return dataclasses.field(default=default)


def torch_optimizers() -> list[type[torch.optim.Optimizer]]:
    classes = (getattr(torch.optim, name) for name in dir(torch.optim))
    optimizer = torch.optim.Optimizer
    return [
        c
        for c in classes
        if isinstance(c, type) and issubclass(c, optimizer) and c is not optimizer
    ]


def register_schemas() -> None:
    """Put the schemas into Hydra's ConfigStore, where conf/train.yaml and conf/eval.yaml find
    them: `schema/image_data_module`, `schema/trainer`, `schema/optimizer/<class in lower case>`."""
    store = ConfigStore.instance()
    store.store(group="schema", name="image_data_module", node=schema_of(ImageDataModule))
    # The run passes the trainer its callbacks and loggers, from their own config groups.
    store.store(group="schema", name="trainer", node=schema_of(L.Trainer, ("callbacks", "logger")))
    for optimizer in torch_optimizers():
        schema = schema_of(optimizer, ("params",), partial=True)
        store.store(group="schema/optimizer", name=optimizer.__name__.lower(), node=schema)
