"""The search space from Hydra's sweep syntax: each swept override becomes an Optuna
distribution (``choice`` categorical, ``range`` stepped, ``interval`` continuous,
``tag(log, ...)`` on a log scale; see :func:`distribution`); fixed overrides pass through as
they are.

The leading underscore keeps Hydra's plugin scan (every public module under ``hydra_plugins``,
on each start) from importing Optuna when no search runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def distribution(override: Override) -> BaseDistribution | str:
    """An Optuna distribution for a sweep override, or the override's value when it is fixed.

    ``choice(a, b)`` and ``shuffle(range(...))`` → categorical; ``range(start, stop, step)`` →
    int or float with that step, ``stop`` excluded as in Hydra's basic sweeper;
    ``interval(low, high)`` → float (Hydra reads its bounds as floats); ``tag(log, interval(...))``
    → log scale.
    """
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    if override.is_choice_sweep() or (isinstance(value, RangeSweep) and value.shuffle):
        assert isinstance(value, ChoiceSweep | RangeSweep)
        return CategoricalDistribution(list(override.sweep_iterator(
            transformer=Transformer.encode)))
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ValueError(f"{override.input_line}: an empty range")
        if all(isinstance(v, int) for v in values) and isinstance(value.step, int):
            return IntDistribution(int(values[0]), int(values[-1]), step=int(value.step))
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(value.step))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ValueError(f"{override.input_line}: not a search space the Optuna sweeper knows")


def search_space(overrides: Sequence[str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """(distributions, fixed values) from ``key=value`` overrides; a later override of the same
    key (the command line after ``hydra.sweeper.params``) replaces an earlier one."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.get_key_element()
        found = distribution(override)
        distributions.pop(key, None)
        fixed.pop(key, None)
        if isinstance(found, BaseDistribution):
            distributions[key] = found
        else:
            fixed[key] = found
    return distributions, fixed


def grid(distributions: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """``GridSampler``'s search space: every value of each (discrete) distribution."""
    points: dict[str, list[Any]] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            points[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution | FloatDistribution) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            points[name] = [dist.low + i * dist.step for i in range(n)]
        else:
            raise ValueError(f"the grid sampler needs discrete values: {name} is continuous "
                             "(use choice(...) or range(...))")
    return points


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
