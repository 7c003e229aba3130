"""Search spaces and presets as YAML, and the Optuna define-by-run function they become.

A space names a base config (a preset), dotted-key overrides, and parameters: each a
dotted config path with a distribution (float / int / categorical, optionally log), and
optionally ``when`` conditions on other paths (conditional parameters).  ``settings``
rules fix values that follow from the sampled ones (e.g. Table S6's learning rate and
loss weights for each method and embedding dim).  A categorical ``variant`` parameter
names whole recipes that rules then spell out (SimCLR-Orig against SimCLR-Tuned).
Loading checks every parameter's bounds and choices, every rule, and every starting point,
against the strict config before any compute is spent.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from search_spaces import find_preset, find_space, list_presets, list_spaces, looks_like_path
from tuning.config import (
    PretrainConfig,
    Strict,
    config_paths,
    describe_validation_error,
    flatten,
    load_config,
    nearest,
    read_yaml_mapping,
    validate_config,
    with_overrides,
)
from tuning.errors import ConfigError, SearchSpaceError
from tuning.run import reports
from tuning.run.data import PREPARED_FIELDS

VARIANT = "variant"
"""The one parameter that is not a config path: a categorical label (e.g. SimCLR-Orig /
SimCLR-Tuned) that only ``settings`` rules read, to set a whole recipe per choice."""


def _holds(when: dict[str, list[Any]], values: dict[str, Any]) -> bool:
    """Whether every path in ``when`` has one of its listed values."""
    return all(values.get(path) in allowed for path, allowed in when.items())


class _Param(Strict):
    when: dict[str, list[Any]] = Field(default_factory=dict, description="sample only if path's value is listed")


class FloatParam(_Param):
    distribution: Literal["float"]
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _range(self):
        if not self.low < self.high:
            raise ValueError(f"empty range: low={self.low} must be < high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log range needs low > 0, got low={self.low}")
        return self

    def candidates(self) -> list[Any]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.low:g}-{self.high:g}{' (log)' if self.log else ''}"

    def suggest(self, trial, name: str):
        return trial.suggest_float(name, self.low, self.high, log=self.log)


class IntParam(_Param):
    distribution: Literal["int"]
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _range(self):
        if not self.low <= self.high:
            raise ValueError(f"empty range: low={self.low} must be <= high={self.high}")
        return self

    def candidates(self) -> list[Any]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.low}-{self.high}{' (log)' if self.log else ''}"

    def suggest(self, trial, name: str):
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


class CategoricalParam(_Param):
    distribution: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)

    def candidates(self) -> list[Any]:
        return list(self.choices)

    def describe(self) -> str:
        return " / ".join(map(str, self.choices))

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, self.choices)


class OrdinalParam(_Param):
    """Ordered values (a grid on a log scale, say) that the sampler models by position: Optuna
    samples an integer index under ``NAME@index``, so TPE and GP treat neighbouring values as
    near, and the trial's config holds the value at that index under ``NAME``."""
    distribution: Literal["ordinal"]
    values: list[Any] = Field(min_length=2)

    def candidates(self) -> list[Any]:
        return list(self.values)

    def describe(self) -> str:
        return f"{len(self.values)} ordered values {self.values[0]}-{self.values[-1]}"

    def suggest(self, trial, name: str):
        return self.values[trial.suggest_int(ordinal_index(name), 0, len(self.values) - 1)]

    def encode(self, value: Any, name: str) -> int:
        """The index of ``value`` (SearchSpaceError when it is not one of the values)."""
        if value not in self.values:
            raise SearchSpaceError(f"{name}={value!r} is not one of its ordinal values {self.values}")
        return self.values.index(value)


def ordinal_index(name: str) -> str:
    """The Optuna parameter (and trial config key) that holds an ordinal parameter's index."""
    return f"{name}@index"


Param = Union[FloatParam, IntParam, CategoricalParam, OrdinalParam]


class SettingRule(Strict):
    """Config values fixed when the sampled values (and the base, and earlier rules) match."""
    when: dict[str, list[Any]] = Field(min_length=1)
    set: dict[str, Any] = Field(min_length=1, description="dotted config paths and their values")


class TPEOptions(Strict):
    """Optuna's TPE options for a campaign's concurrent trials and joint parameters."""
    constant_liar: bool | None = Field(None, description="pretend running trials scored badly, so concurrent "
                                       "trials are not sampled alike (None: on when more than one trial runs at once)")
    multivariate: bool = Field(True, description="model the parameters jointly, not one by one (Optuna 5's "
                               "default for one objective)")
    group: bool = Field(False, description="with multivariate: one joint model per set of parameters that appear "
                        "together (conditional spaces)")
    n_startup_trials: int | None = Field(None, ge=1, description="random trials before TPE models the results "
                                         "(None: a quarter of num_samples, 2 to 10; Optuna's own 10 would leave a "
                                         "campaign of 10 trials or fewer random search)")

    @model_validator(mode="after")
    def _group_needs_multivariate(self):
        if self.group and not self.multivariate:
            raise ValueError("tpe.group=true needs tpe.multivariate=true")
        return self


class SchedulerSpec(Strict):
    """How trials are stopped early: fifo (never), asha (asynchronous successive halving, rungs at
    grace_period x reduction_factor^k epochs), or hyperband (Ray Tune's asynchronous Hyperband:
    ``brackets`` ASHA brackets, each trial's drawn at random, the k-th starting at grace_period x
    reduction_factor^k)."""
    type: Literal["asha", "fifo", "hyperband"] = "asha"
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(4.0, gt=1, description="eta: 4 ranked first for asha at grace 1 in the replay "
                                    "on the learning-curve table (benchmarks/RESULTS.md, 'Search strategies "
                                    "replayed'); hyperband was replayed at 2")
    brackets: int = Field(3, ge=1, description="hyperband's brackets (asha has one)")

    @property
    def stops_early(self) -> bool:
        return self.type != "fifo"


class SearchSpace(Strict):
    name: str
    description: str = ""
    base: str = Field(description="preset name or YAML path of the base config")
    base_values: dict[str, Any] | None = Field(None, description="the base config's values, read once when a "
                                               "campaign starts and kept with it (None: read from ``base``)")
    overrides: dict[str, Any] = Field(default_factory=dict)
    metric: str = Field(reports.FROZEN_RIDGE_SELECT_TOP1, description="what ASHA stops on and TPE learns from "
                        "(select); the default ranked trials best of six candidates (benchmarks/RESULTS.md, "
                        "'Rung metrics')")
    mode: Literal["max", "min"] = "max"
    num_samples: int = Field(8, ge=1)
    max_concurrent_trials: int = Field(1, ge=1)
    seed: int = 0
    sampler: Literal["tpe", "random", "grid", "gp"] = Field(
        "tpe", description="grid: every combination of the categorical parameters (num_samples is set to their "
        "count); gp: Optuna's Gaussian-process sampler")
    tpe: TPEOptions = Field(default_factory=TPEOptions)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    max_total_epochs: int | None = Field(None, ge=1, description="stop the campaign once its trials have "
                                                                   "trained this many epochs in total")
    params: dict[str, Param] = Field(default_factory=dict)
    settings: list[SettingRule] = Field(default_factory=list, description="values that follow from the sampled "
                                        "ones; rules apply in file order, later ones win")
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list)
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _grid_runs_every_combination(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("sampler") == "grid":
            sizes = [len(p.get("choices", [])) if isinstance(p, dict) else len(p.choices)
                     for p in (raw.get("params") or {}).values()]
            raw = {**raw, "num_samples": max(1, math.prod(sizes))}
        return raw

    @model_validator(mode="after")
    def _grid_is_categorical(self):
        if self.sampler == "grid":
            loose = [n for n, p in self.params.items() if not isinstance(p, CategoricalParam) or p.when]
            if loose:
                raise ValueError(f"sampler 'grid' needs unconditional categorical parameters; not: {loose}")
        return self

    def tpe_options(self) -> dict[str, bool | int]:
        """The TPE sampler's options as it runs: constant_liar on by default for concurrent trials,
        and a quarter of the trials (2 to 10) random before TPE models the rest."""
        liar = self.tpe.constant_liar if self.tpe.constant_liar is not None else self.max_concurrent_trials > 1
        startup = self.tpe.n_startup_trials or max(2, min(10, self.num_samples // 4))
        return {"constant_liar": liar, "multivariate": self.tpe.multivariate, "group": self.tpe.group,
                "n_startup_trials": startup}

    def frozen(self) -> SearchSpace:
        """This space with its base config's values read now and kept: a campaign's trials,
        resume, extend, export and status then never read the preset file again."""
        if self.base_values is not None:
            return self
        return self.model_copy(update={"base_values": load_preset(self.base).model_dump(mode="json")})

    def base_tree(self) -> dict[str, Any]:
        """The base config (the kept values once frozen) with the space's overrides applied, as plain data."""
        base = self.base_values if self.base_values is not None else load_preset(self.base).model_dump(mode="json")
        return with_overrides(base, self.overrides)

    def base_changes(self) -> dict[str, tuple[Any, Any]]:
        """``{dotted key: (kept value, value in the file now)}`` where the base file has changed
        since the space was frozen (empty when not frozen, unchanged, or the file is gone)."""
        if self.base_values is None:
            return {}
        try:
            now = flatten(load_preset(self.base).model_dump(mode="json"))
        except ConfigError:
            return {}
        kept = flatten(self.base_values)
        return {key: (kept.get(key), now.get(key)) for key in sorted(set(kept) | set(now))
                if kept.get(key) != now.get(key)}

    def base_config(self) -> PretrainConfig:
        return validate_config(self.base_tree(), source=f"search space {self.name!r} base + overrides")

    def is_active(self, param: Param, chosen: dict[str, Any], base_flat: dict[str, Any]) -> bool:
        """Whether a conditional parameter applies, given the values chosen so far."""
        return _holds(param.when, {**base_flat, **chosen})

    def _fixed_settings(self, sampled: dict[str, Any], base_tree: dict[str, Any]) -> dict[str, Any]:
        """The values the ``settings`` rules fix for these sampled values, as dotted paths."""
        seen = {**flatten(base_tree), **sampled}
        fixed: dict[str, Any] = {}
        for rule in self.settings:
            if _holds(rule.when, {**seen, **fixed}):
                fixed.update(flatten(rule.set))
        return fixed

    def define_by_run(self, trial) -> dict[str, Any] | None:
        """The Optuna define-by-run function: suggests every active parameter in file order; the
        values of ordinal parameters (whose indices Optuna samples) are returned as constants."""
        base_flat = flatten(self.base_tree())
        chosen: dict[str, Any] = {}
        for name, param in self.params.items():
            if self.is_active(param, chosen, base_flat):
                chosen[name] = param.suggest(trial, name)
        ordinal = {name: chosen[name] for name, param in self.params.items()
                   if isinstance(param, OrdinalParam) and name in chosen}
        return ordinal or None

    def optuna_point(self, point: dict[str, Any]) -> dict[str, Any]:
        """A starting point as Optuna's parameters: an ordinal parameter's value becomes its index."""
        encoded = {}
        for name, value in point.items():
            param = self.params.get(name)
            if isinstance(param, OrdinalParam):
                where = f"search space {self.name!r}: starting point's {name}"
                encoded[ordinal_index(name)] = param.encode(value, where)
            else:
                encoded[name] = value
        return encoded

    def to_yaml(self) -> str:
        """The space as it runs (``--set`` values included), as YAML that ``load_space`` reads."""
        header = f"# from {self.source}\n" if self.source else ""
        return header + yaml.safe_dump(self.model_dump(mode="json", exclude={"source", "base_values"},
                                                       exclude_defaults=True), sort_keys=False)

    def with_base_values(self, values: dict[str, Any]) -> SearchSpace:
        """This space with more dotted-key overrides of its base config, checked; a searched
        parameter cannot be set (its sampled value would win)."""
        searched = sorted(set(values) & set(self.params))
        if searched:
            raise SearchSpaceError(f"search space {self.name!r} searches {searched}; set only values it does not "
                                   f"search (its parameters: {', '.join(self.params)})")
        space = self.model_copy(update={"overrides": {**self.overrides, **values}})
        space.check()
        return space

    def trial_config(self, sampled: dict[str, Any]) -> PretrainConfig:
        """The full config of one trial: base + overrides + sampled values + the values the
        ``settings`` rules fix.  The trial trains, MLflow logs and export writes this config."""
        return self._config_for(sampled, self.base_tree())

    def _config_for(self, sampled: dict[str, Any], base_tree: dict[str, Any]) -> PretrainConfig:
        values = {k: v for k, v in sampled.items() if k != VARIANT and not k.endswith(ordinal_index(""))}
        return validate_config(with_overrides(base_tree, {**values, **self._fixed_settings(sampled, base_tree)}),
                               source=f"search space {self.name!r} trial {sampled}")

    def check(self) -> None:
        """The metric is one the loop reports (every epoch, for ASHA's rungs), and every path,
        bound, choice and starting point gives a valid config."""
        self._check_metric()
        base_tree = self.base_tree()
        if self.metric in reports.FROZEN_CANDIDATES and self.base_config().probe.rung_bank_images == 0:
            raise SearchSpaceError(f"search space {self.name!r}: metric {self.metric!r} is computed on a bank of "
                                   "frozen features, which probe.rung_bank_images=0 turns off: set it above 0 "
                                   "(e.g. 10000) or rank by another metric")
        known = config_paths() | {VARIANT}
        if VARIANT in self.params and not isinstance(self.params[VARIANT], CategoricalParam):
            raise SearchSpaceError(f"search space {self.name!r}: {VARIANT!r} is a label for recipes and must be "
                                   "categorical")
        self._check_settings(known, base_tree)
        for name, param in self.params.items():
            if _shared_by_trials(name):
                raise SearchSpaceError(f"search space {self.name!r}: {name!r} cannot be searched; {SHARED}")
            for path in [name, *param.when]:
                if path not in known:
                    raise SearchSpaceError(f"search space {self.name!r}: parameter {path!r} is not a config "
                                           f"path{nearest(path, known)}")
            others = {other: p.candidates()[0] for other, p in self.params.items() if other != name and not p.when}
            for value in param.candidates():
                try:
                    self._config_for({**others, **_when_example(param), name: value}, base_tree)
                except ConfigError as error:
                    raise SearchSpaceError(f"search space {self.name!r}: parameter {name!r} value {value!r} "
                                           f"is not valid: {error}") from None
        for point in self.points_to_evaluate:
            unknown = set(point) - set(self.params)
            if unknown:
                raise SearchSpaceError(f"search space {self.name!r}: starting point {point} sets {sorted(unknown)}, "
                                       f"which are not parameters of the space ({', '.join(self.params)})")
            self.optuna_point(point)
            try:
                self._config_for(point, base_tree)
            except ConfigError as error:
                raise SearchSpaceError(f"search space {self.name!r}: starting point {point} is not valid: "
                                       f"{error}") from None

    def _check_metric(self) -> None:
        rungs = self.scheduler.stops_early and bool(self.params)
        known = reports.search_metrics(every_epoch=rungs)
        if self.metric in known or self.metric.startswith(reports.loss_term("")):
            return
        twin = reports.select_counterpart(self.metric)
        if twin is not None:
            why = (f"{self.metric!r} is scored on the test split, which no choice may read (choices read select; "
                   f"its select twin is {twin!r})")
        elif self.metric in reports.search_metrics(False):
            why = (f"{self.metric!r} is reported only after the last epoch, and ASHA compares trials at every rung "
                   "(use scheduler.type: fifo to rank by it)")
        else:
            why = f"{self.metric!r} is not a key the training loop reports{nearest(self.metric, known)}"
        raise SearchSpaceError(f"search space {self.name!r}: metric {why}; the metrics it can rank by: "
                               f"{', '.join(known)} (or loss_TERM, a term of the method's loss)")

    def _check_settings(self, known: set[str], base_tree: dict[str, Any]) -> None:
        """Rules name config paths, leave the searched parameters alone, and give valid configs:
        every combination of a grid space, else each rule on its own ``when`` example."""
        for number, rule in enumerate(self.settings, start=1):
            where = f"search space {self.name!r}: settings rule {number}"
            for path in [*rule.when, *flatten(rule.set)]:
                if path not in known:
                    raise SearchSpaceError(f"{where}: {path!r} is not a config path{nearest(path, known)}")
            shared = sorted(path for path in flatten(rule.set) if _shared_by_trials(path))
            if shared:
                raise SearchSpaceError(f"{where} sets {shared}, which a rule cannot vary; {SHARED}")
            searched = sorted(set(flatten(rule.set)) & set(self.params))
            if searched:
                raise SearchSpaceError(f"{where} sets {searched}, which the space searches; a rule may only "
                                       "set values that follow from the searched ones")
        if not self.settings:
            return
        if self.sampler == "grid":
            examples = [dict(zip(self.params, values))
                        for values in itertools.product(*(p.choices for p in self.params.values()))]
        else:
            firsts = {name: p.candidates()[0] for name, p in self.params.items() if not p.when}
            examples = [{**firsts, **{k: v[0] for k, v in rule.when.items() if k in self.params}}
                        for rule in self.settings]
        for example in examples:
            try:
                self._config_for(example, base_tree)
            except ConfigError as error:
                raise SearchSpaceError(f"search space {self.name!r}: with its settings rules, {example} "
                                       f"is not valid: {error}") from None


SHARED = (f"a campaign's trials share the base config's resources and the data it prepares once "
          f"({', '.join(PREPARED_FIELDS)}): set them in overrides")


def _shared_by_trials(path: str) -> bool:
    """A config path every trial of a campaign takes from its base: resources and prepared data."""
    return path.startswith("resources.") or path in PREPARED_FIELDS


def _when_example(param: Param) -> dict[str, Any]:
    return {path: allowed[0] for path, allowed in param.when.items()}


def _located(name_or_path: str, path: Path | None, kind: str, shipped: list[str], error: type[Exception]) -> Path:
    """``path``, or ``error`` saying the file is missing or the name unknown (with the nearest names)."""
    if path is not None:
        return path
    if looks_like_path(name_or_path):
        raise error(f"{kind} file {name_or_path!r} does not exist")
    raise error(f"unknown {kind} {name_or_path!r}{nearest(name_or_path, shipped)}; "
                f"available: {', '.join(shipped)} (or a path to a .yaml file)")


def load_preset(name_or_path: str) -> PretrainConfig:
    """A preset by name (search_spaces/presets/NAME.yaml) or a config YAML path, strictly validated."""
    return load_config(_located(name_or_path, find_preset(name_or_path), "preset", list_presets(), ConfigError))


def load_space(name_or_path: str) -> SearchSpace:
    """A search space by name (search_spaces/NAME.yaml) or path, fully checked.  A ``settings``
    entry ``{from: OTHER}`` is replaced by space OTHER's rules in its place (Table S6's rules
    written once, read by every space that needs them)."""
    path = _located(name_or_path, find_space(name_or_path), "search space", list_spaces(), SearchSpaceError)
    raw = read_yaml_mapping(path, "search space", SearchSpaceError)
    if isinstance(raw.get("settings"), list):
        raw["settings"] = [spliced for rule in raw["settings"] for spliced in (
            load_space(str(rule["from"])).model_dump(mode="json")["settings"]
            if isinstance(rule, dict) and set(rule) == {"from"} else [rule])]
    try:
        space = SearchSpace.model_validate({**raw, "source": str(path)})
    except ValidationError as error:
        raise SearchSpaceError(f"search space {str(path)!r}: "
                               f"{describe_validation_error(error, set(SearchSpace.model_fields))}") from None
    space.check()
    return space
