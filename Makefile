# Run `make help` for the list of targets. Everything runs inside .venv, made by `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The data folder: $DATA_DIR if set, else data/ or ../shared/data (the code decides, as for python).

.DEFAULT_GOAL := help
.PHONY: help install hooks train test test-fast lint format tensorboard clean bench bench-throughput reproduce report

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv and install the project (editable) with dev tools

hooks: install ## Run ruff (lint and format check) before every git commit
	$(BIN)/pre-commit install

train: install ## Train the default model (mlp on mnist); extra Hydra overrides via ARGS="..."
	$(BIN)/python train.py $(ARGS)

test: install ## Run the whole test suite, one worker per core (pytest-xdist)
	$(BIN)/python -m pytest -n auto $(ARGS)

test-fast: install ## Run the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -n auto -m "not slow" $(ARGS)

lint: install ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

tensorboard: install ## Open TensorBoard on every run and sweep under logs/
	$(BIN)/tensorboard --logdir logs

clean: ## Remove caches (keeps .venv, data and logs)
	rm -rf .pytest_cache .ruff_cache **/__pycache__

bench: install ## Time to accuracy: ours vs the usual PyTorch recipes, whole processes (about 15 min)
	$(BIN)/python scripts/time_to_accuracy.py $(ARGS)

bench-throughput: install ## Images per second of a training step: ours vs a bare loop vs per-sample loading
	$(BIN)/python scripts/benchmark.py $(ARGS)

# The study: every recipe at its pinned setting, records in results/ (committed). A run whose record
# is there is skipped, so the same command continues after an interruption. Joblib (parallel) and a
# cluster (slurm) get all of a recipe's jobs at once, so within a recipe a worker that ends a short
# run starts the next; joblib logs a count of the jobs done as they end, and the sweeper the runs
# and time left after each recipe. With one run at a time (basic) the sweeper logs them after each.
RECIPES ?= permutation,mlp_baseline,shift,translation,locality,grid,position,padding,beta_lasso,converged,converged_seeds
JOBS ?= 2
LAUNCHER ?= parallel

reproduce: install ## Run the study (RECIPES=a,b to choose; LAUNCHER=basic on a GPU, slurm on a cluster), then make report
	$(BIN)/python train.py -m 'experiment=glob([$(RECIPES)])' hydra/launcher=$(LAUNCHER) \
		$(if $(filter parallel,$(LAUNCHER)),hydra.launcher.n_jobs=$(JOBS) hydra.launcher.verbose=11 num_threads=1,) \
		$(if $(filter basic,$(LAUNCHER)),hydra.sweeper.max_batch_size=1,) \
		hydra.sweeper.skip_recorded=results results_dir=results trainer.enable_progress_bar=false $(ARGS)
	$(MAKE) report

report: install ## Rebuild the study's tables and figures in docs/ from results/ alone (no training)
	$(BIN)/python scripts/report.py results --out docs/figures --markdown docs/results_tables.md \
		--fill README.md --fill docs/results.md
