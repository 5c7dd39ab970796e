"""A Hydra sweeper that lets `-m experiment=glob(*)` run every recipe with its own sweep.

Hydra's basic sweeper reads `hydra.sweeper.params` from the config composed for the whole
multirun. With `experiment=permutation` that config holds the recipe, so its params (seeds,
models, data) are swept. With `experiment=glob(*)` or `experiment=a,b` it holds no recipe (a
swept group is not composed), so every recipe's params would be lost and each would run once.

`RecipeSweeper` is the basic sweeper, except when the `experiment` group itself is swept: then,
for each recipe, it composes the config with that recipe (and the other command-line overrides)
to read the recipe's own `hydra.sweeper.params`, sweeps them (command-line overrides of the same
key win, e.g. `seed=1`), and launches the recipe's jobs into the recipe's own `hydra.sweep.dir`.
Jobs are numbered on across recipes, so recipes sent into one folder (`hydra.sweep.dir=...` on the
command line) never share a job folder. Hydra finds it because it lives in the `hydra_plugins`
namespace package, installed with the project; conf/hydra/sweeper/recipe.yaml selects it.

With `skip_recorded=<folder>` (`make reproduce` passes results/), a job whose record is already
in that folder (a finished run with the same resolved settings, `mlp_vs_cnn.record`) is skipped,
so the same command continues a study where it stopped. Progress (runs done and left, with an
estimate of the time left) is logged after each batch of `max_batch_size` jobs. The folders of
the jobs are listed in the sweep folder's `jobs.txt`, for the summary of the sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Hydra ships its basic sweeper only as an internal class; extending it beats copying it.
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from mlp_vs_cnn.record import SWEEP_JOBS_FILE, run_settings, settings_key, write_atomically
from mlp_vs_cnn.study_records import recorded_keys

log = logging.getLogger(__name__)


class RecipeSweeper(BasicSweeper):
    """Basic sweeper; a sweep over the `recipe_group` expands each recipe's own sweeper params."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        recipe_group: str = "experiment",
        skip_recorded: str | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.recipe_group = recipe_group
        self.skip_recorded = skip_recorded

    def _parser(self) -> OverridesParser:
        return OverridesParser.create(config_loader=self.hydra_context.config_loader)

    def recipe_jobs(self, arguments: list[str]) -> dict[str, list[list[str]]] | None:
        """The overrides of every job, per recipe; None when the recipe group is not swept."""
        overrides = self._parser().parse_overrides([*self._parse_config(), *arguments])
        group = self.recipe_group
        swept = [o for o in overrides if o.key_or_group == group and o.is_sweep_override()]
        if not swept:
            return None
        others = [o for o in overrides if o.key_or_group != self.recipe_group]
        fixed = [o.input_line for o in others if not o.is_sweep_override()]
        jobs = {}
        for recipe in swept[0].sweep_string_iterator():
            params = self._recipe_params(recipe, fixed)
            merged = {key: f"{key}={value}" for key, value in params.items()}
            merged.update({o.key_or_group: o.input_line for o in others})  # the command line wins
            lines = [f"{self.recipe_group}={recipe}", *merged.values()]
            jobs[recipe] = self.split_arguments(self._parser().parse_overrides(lines), None)[0]
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

    def recorded(self, overrides: Sequence[str], keys: set[str]) -> bool:
        """Whether `keys` (of the countable records of `skip_recorded`) hold the run these
        overrides make (the same resolved settings: `mlp_vs_cnn.record.run_settings`)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        return settings_key(run_settings(cfg)) in keys

    def sweep(self, arguments: list[str]) -> Any:
        jobs = self.recipe_jobs(arguments)
        if jobs is None:
            return super().sweep(arguments)
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if self.skip_recorded:
            # Only a record that passes its checks counts: a damaged one's run is run again.
            keys, skipped = recorded_keys(self.skip_recorded)
            for path, reason in skipped:
                log.warning("%s is not counted (%s): its run is run again", path, reason)
            for recipe, recipe_jobs in jobs.items():
                jobs[recipe] = [job for job in recipe_jobs if not self.recorded(job, keys)]
                done = len(recipe_jobs) - len(jobs[recipe])
                log.info("Recipe %s: %d runs, %d recorded, %d to run", recipe, len(recipe_jobs),
                         done, len(jobs[recipe]))  # fmt: skip
        total = sum(map(len, jobs.values()))
        returns: list[Sequence[Any]] = []
        failed = []
        job_dirs = []  # for the summary at the end of the sweep, wherever the launcher ran them
        first, started = 0, time.monotonic()
        for recipe, recipe_jobs in jobs.items():
            if not recipe_jobs:
                continue
            log.info("Recipe %s: %d jobs", recipe, len(recipe_jobs))
            for batch in self.split_overrides_to_chunks(recipe_jobs, self.max_batch_size):
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=first)
                failed += [r for r in results if r.status == JobStatus.FAILED]
                job_dirs += [r.hydra_cfg.hydra.runtime.output_dir for r in results if r.hydra_cfg]
                first += len(batch)
                returns.append(results)
                elapsed = time.monotonic() - started
                left = elapsed / first * (total - first)
                log.info("%d of %d runs done in %.0f min, about %.0f min left", first, total,
                         elapsed / 60, left / 60)  # fmt: skip
        write_atomically(sweep_dir / SWEEP_JOBS_FILE, "".join(f"{d}\n" for d in job_dirs))
        if failed:
            _ = failed[0].return_value  # raises the first failure, once every job has run
        return returns
