"""A Hydra sweeper that lets `-m experiment=glob(*)` run every recipe with its own sweep.

Hydra's basic sweeper reads `hydra.sweeper.params` from the config composed for the whole
multirun. With `experiment=permutation` that config holds the recipe, so its params (seeds,
models, data) are swept. With `experiment=glob(*)` or `experiment=a,b` it holds no recipe (a
swept group is not composed), so every recipe's params would be lost and each would run once.

`RecipeSweeper` sweeps as Hydra's basic sweeper does (every combination of the comma-separated
values of `params` and the command line, `max_batch_size` jobs at a time), except when the
`experiment` group itself is swept: then, for each recipe, it composes the config with that
recipe (and the other command-line overrides) to read the recipe's own `hydra.sweeper.params`,
sweeps them (command-line overrides of the same key win, e.g. `seed=1`), and launches the
recipe's jobs into the recipe's own `hydra.sweep.dir`.
Jobs are numbered on across recipes, so recipes sent into one folder (`hydra.sweep.dir=...` on the
command line) never share a job folder. Hydra finds it because it lives in the `hydra_plugins`
namespace package, installed with the project; conf/hydra/sweeper/recipe.yaml selects it.

With `skip_recorded=<folder>` (`make reproduce` passes results/), a job whose record is already
in that folder (a finished run with the same resolved settings, `mlp_vs_cnn.record`) is skipped,
so the same command continues a study where it stopped, and so (with `skip_recorded` set) is a
job that trains exactly as one before it in the sweep (block permutations that move nothing are
the original images): a configuration is trained once, and the report shows its record in every
cell that asks for it. Progress (runs done and left, with the time left at the pace so far) is
logged after each batch of `max_batch_size` jobs (null, as `make reproduce` passes to joblib and
a cluster: after each recipe). Every job runs, whatever fails; the first failure is raised once
they all have. The folders of the jobs are listed in the sweep folder's `jobs.txt`, for the
summary of the sweep. Built on Hydra's public `Sweeper` plugin API (its basic sweeper is an
internal class).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, OmegaConf

from mlp_vs_cnn.record import SWEEP_JOBS_FILE, run_settings, settings_key, write_atomically
from mlp_vs_cnn.study_records import recorded_keys

log = logging.getLogger(__name__)


def cartesian_jobs(overrides: Sequence[Override]) -> list[list[str]]:
    """The overrides of every job: each combination of the swept values (`a=1,2 b=3,4`: four
    jobs), the others in every job, in the order of the command line (as the basic sweeper).
    `HydraException` for a sweep that is not a list of values (`interval(0, 1)`)."""
    choices: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise HydraException(f"{key}: a {override.value_type.name} is not a list of values")
    return [list(job) for job in itertools.product(*choices.values())]


def batches(jobs: list[list[str]], size: int | None) -> Iterator[list[list[str]]]:
    """`jobs` in batches of `size` (None or -1: one batch of all)."""
    if size is not None and size != -1 and size < 1:
        raise HydraException(f"hydra.sweeper.max_batch_size={size}: must be >= 1, or null for all")
    size = len(jobs) if size in (None, -1) else size
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


class RecipeSweeper(Sweeper):
    """Basic sweeper; a sweep over the `recipe_group` expands each recipe's own sweeper params."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        recipe_group: str = "experiment",
        skip_recorded: str | None = None,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.recipe_group = recipe_group
        self.skip_recorded = skip_recorded
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _parser(self) -> OverridesParser:
        return OverridesParser.create(config_loader=self.hydra_context.config_loader)

    def jobs(self, arguments: list[str]) -> dict[str | None, list[list[str]]]:
        """The overrides of every job, per recipe; under None when the recipe group is not
        swept (the params and the command line, as the basic sweeper)."""
        params = [f"{key}={value}" for key, value in self.params.items()]
        overrides = self._parser().parse_overrides([*params, *arguments])
        group = self.recipe_group
        swept = [o for o in overrides if o.key_or_group == group and o.is_sweep_override()]
        if not swept:
            return {None: cartesian_jobs(overrides)}
        others = [o for o in overrides if o.key_or_group != self.recipe_group]
        fixed = [o.input_line for o in others if not o.is_sweep_override()]
        jobs = {}
        for recipe in swept[0].sweep_string_iterator():
            params = self._recipe_params(recipe, fixed)
            merged = {key: f"{key}={value}" for key, value in params.items()}
            merged.update({o.key_or_group: o.input_line for o in others})  # the command line wins
            lines = [f"{self.recipe_group}={recipe}", *merged.values()]
            jobs[recipe] = cartesian_jobs(self._parser().parse_overrides(lines))
        return jobs

    def _recipe_params(self, recipe: str, fixed: list[str]) -> dict[str, Any]:
        """`hydra.sweeper.params` of the config composed with this recipe."""
        assert self.config is not None and self.hydra_context is not None
        hydra_overrides = list(OmegaConf.to_container(self.config.hydra.overrides.hydra))
        cfg = self.hydra_context.config_loader.load_configuration(
            config_name=self.config.hydra.job.config_name,
            overrides=[*hydra_overrides, *fixed, f"{self.recipe_group}={recipe}"],
            run_mode=RunMode.MULTIRUN,
        )
        params = OmegaConf.select(cfg, "hydra.sweeper.params")
        return dict(params) if params else {}

    def key(self, overrides: Sequence[str]) -> str:
        """The key of the run these overrides make (of its resolved settings in their simplest
        form, `mlp_vs_cnn.record.run_settings`): two jobs that train alike have the same."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        return settings_key(run_settings(cfg))

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        jobs = self.jobs(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if self.skip_recorded:
            # Only a record that passes its checks counts: a damaged one's run is run again.
            keys, skipped = recorded_keys(self.skip_recorded)
            for path, reason in skipped:
                log.warning("%s is not counted (%s): its run is run again", path, reason)
            queued: set[str] = set()  # a job that repeats one queued before it is not run
            for recipe, recipe_jobs in jobs.items():
                jobs[recipe], done, repeats = [], 0, 0
                for job in recipe_jobs:
                    key = self.key(job)
                    done += key in keys
                    repeats += key in queued and key not in keys
                    if key not in keys and key not in queued:
                        jobs[recipe].append(job)
                    queued.add(key)
                log.info("Recipe %s: %d runs, %d recorded, %d repeat another run, %d to run",
                         recipe or "-", len(recipe_jobs), done, repeats,
                         len(jobs[recipe]))  # fmt: skip
        total = sum(map(len, jobs.values()))
        returns: list[Sequence[JobReturn]] = []
        failed = []
        job_dirs = []  # for the summary at the end of the sweep, wherever the launcher ran them
        first, started = 0, time.monotonic()
        for recipe, recipe_jobs in jobs.items():
            if not recipe_jobs:
                continue
            if recipe is not None:
                log.info("Recipe %s: %d jobs", recipe, len(recipe_jobs))
            for batch in batches(recipe_jobs, self.max_batch_size):
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=first)
                failed += [r for r in results if r.status == JobStatus.FAILED]
                job_dirs += [r.hydra_cfg.hydra.runtime.output_dir for r in results if r.hydra_cfg]
                first += len(batch)
                returns.append(results)
                if first < total:
                    elapsed = time.monotonic() - started
                    left = elapsed / first * (total - first)
                    log.info("%d of %d runs done in %.0f min; at that pace about %.0f min left "
                             "(runs that cost more, as larger inputs do, take longer)", first,
                             total, elapsed / 60, left / 60)  # fmt: skip
        try:
            write_atomically(sweep_dir / SWEEP_JOBS_FILE, "".join(f"{d}\n" for d in job_dirs))
        except OSError as err:  # a full disk, as the jobs may have met: the summary does without
            log.warning("%s not written: %s", sweep_dir / SWEEP_JOBS_FILE, err.strerror or err)
        if failed:
            _ = failed[0].return_value  # raises the first failure, once every job has run
        return returns
