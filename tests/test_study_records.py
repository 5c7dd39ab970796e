"""The study records of results/: checked whenever they are read, named when left out, each run
counted once; a damaged record's run is run again by `make reproduce`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mlp_vs_cnn.record import run_settings, settings_key
from mlp_vs_cnn.study_records import RecordError, checksum, read_record, read_records
from scripts.report import find_runs, group_runs, place_records
from tests.conftest import ROOT


def a_record(seed: int = 1, acc: float = 0.9, with_checksum: bool = True) -> dict:
    settings = {"model": {"_target_": "mlp_vs_cnn.models.MLP"}, "data": {"dataset": "MNIST"},
                "seed": seed}  # fmt: skip
    record = {
        "status": "finished", "task": "permutation", "settings": settings,
        "key": settings_key(settings), "seed": seed, "code": "0123456789ab",
        "choices": {"experiment": "permutation", "model": "fc_small", "data": "mnist"},
        "metrics": {"test/acc": acc, "test/loss": 0.3, "val/acc_best": acc},
        "num_parameters": 6442, "fit_seconds": 10.5, "epochs": 1, "global_step": 860,
    }  # fmt: skip
    if with_checksum:
        record["checksum"] = checksum(record)
    return record


def write_record(folder: Path, record: dict, text: str | None = None) -> Path:
    path = folder / record["task"] / f"fc_small_mnist_s{record['seed']}-{record['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record) if text is None else text)
    return path


def damaged(change) -> dict:
    record = a_record(with_checksum=False)
    change(record)
    return record


CASES = {
    "truncated": (None, "not readable as JSON"),
    "accuracy_above_one": (damaged(lambda r: r["metrics"].update({"test/acc": 1.5})),
                           "metric test/acc is 1.5, outside [0, 1]"),
    "nan_accuracy": (damaged(lambda r: r["metrics"].update({"test/acc": math.nan})),
                     "metric test/acc is nan, not a finite number"),
    "no_choices": (damaged(lambda r: r.pop("choices")), "no 'choices' field"),
    "string_for_a_number": (damaged(lambda r: r.update({"fit_seconds": "fast"})),
                            "fit_seconds is 'fast', not of type integer or number"),
    "settings_edited": (damaged(lambda r: r["settings"].update({"seed": 7})),
                        "its settings are not those of its key"),
    "not_finished": (damaged(lambda r: r.update({"status": "running"})),
                     "status is 'running': not a finished run"),
    "untested": (damaged(lambda r: r["metrics"].pop("test/acc")), "no test/acc"),
    "metrics_edited": (damaged(lambda r: r.update({"checksum": "0" * 64})),
                       "its checksum does not match its content"),
    "curve_with_nan": (damaged(lambda r: r.update({"history": {"val/acc": [0.5, math.nan]}})),
                       "history of val/acc is not a list of finite numbers"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_or_impossible_record_is_refused_with_its_reason(tmp_path, case):
    record, reason = CASES[case]
    text = json.dumps(a_record())[:80] if record is None else None
    path = write_record(tmp_path, record or a_record(), text)
    with pytest.raises(RecordError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        read_record(path)
    records, skipped = read_records(tmp_path)
    assert records == [] and len(skipped) == 1 and skipped[0][0] == path


def test_a_record_under_another_name_than_its_key_is_refused(tmp_path):
    path = write_record(tmp_path, a_record())
    moved = path.with_name("fc_small_mnist_s1-000000000000.json")
    path.rename(moved)
    with pytest.raises(RecordError, match="its file name does not end with its key"):
        read_record(moved)


def test_records_written_before_checksums_are_still_counted(tmp_path):
    record = a_record(with_checksum=False)  # the 495 records of results/ carry none
    assert read_record(write_record(tmp_path, record)) == record


def test_a_copy_of_a_record_counts_once_and_is_named(tmp_path):
    path = write_record(tmp_path, a_record())
    copy_path = tmp_path / "copies" / path.name  # read first: "copies" sorts before the task
    copy_path.parent.mkdir()
    copy_path.write_text(path.read_text())
    records, skipped = read_records(tmp_path)
    assert len(records) == 1
    assert skipped == [(path, f"the same run as {copy_path}, counted once")]


def test_the_report_leaves_out_damaged_records_names_them_and_does_not_crash(tmp_path, capsys):
    write_record(tmp_path, a_record(seed=1, acc=0.90))
    write_record(tmp_path, a_record(seed=2, acc=0.92))
    impossible = a_record(seed=3, acc=1.5, with_checksum=False)
    write_record(tmp_path, impossible)
    truncated = tmp_path / "permutation" / "fc_small_mnist_s4-abcdefabcdef.json"
    truncated.write_text('{"status": "fini')
    records = find_runs([tmp_path])
    (group,) = group_runs(records)
    assert sorted(group.test_acc) == [0.90, 0.92]  # the two countable runs, nothing else
    err = capsys.readouterr().err
    assert "outside [0, 1]" in err and str(truncated) in err and "not readable as JSON" in err


def recipe_record(seed: int, acc: float, *extra: str) -> dict:
    """A record as `make reproduce` writes it for permutation / fc_small / mnist."""
    overrides = ["experiment=permutation", "model=fc_small", "data=mnist", f"seed={seed}", *extra]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        settings = json.loads(json.dumps(run_settings(compose("train", overrides=overrides))))
    record = a_record(seed=seed, acc=acc, with_checksum=False)
    record.update(settings=settings, key=settings_key(settings))
    return record


def test_a_run_at_other_settings_is_shown_apart_from_its_recipes_published_cell(tmp_path):
    for seed, acc in ((1, 0.84), (2, 0.86)):
        write_record(tmp_path, recipe_record(seed, acc))
    write_record(tmp_path, recipe_record(3, 0.30, "optimizer.lr=5"))  # make reproduce ARGS=...
    records = place_records(find_runs([tmp_path]))
    cells = {(g.recipe, g.model, g.data): sorted(g.test_acc) for g in group_runs(records)}
    assert cells == {
        ("permutation", "fc_small", "mnist"): [0.84, 0.86],
        ("permutation (other settings)", "fc_small", "mnist"): [0.30],
    }


def test_one_run_fills_every_cell_of_the_study_that_asks_for_its_settings(tmp_path):
    """The permutation recipe's run of fc_small on mnist is also locality's k=1 of block_local
    and k=28 of block_shuffle (blocks that move nothing): recorded once, shown in all three."""
    write_record(tmp_path, recipe_record(1, 0.84))
    block = recipe_record(1, 0.80, "experiment=locality", "data=mnist_block_local",
                          "data.block_size=4")  # fmt: skip
    block.update(task="locality", choices={**block["choices"], "experiment": "locality",
                                           "data": "mnist_block_local"})  # fmt: skip
    write_record(tmp_path, block)
    cells = {
        (g.recipe, g.data): g.test_acc for g in group_runs(place_records(find_runs([tmp_path])))
    }
    assert cells == {
        ("permutation", "mnist"): [0.84],
        ("locality", "mnist_block_local k=1"): [0.84],
        ("locality", "mnist_block_shuffle k=28"): [0.84],
        ("locality", "mnist_block_local k=4"): [0.80],
    }


def test_the_shift_analysis_batch_size_is_not_part_of_a_runs_identity():
    """How many images go through the network at once changes the analysis's speed, not its
    result: a grid record made with batches of 4096 is the same run with batches of 1024."""

    def key(*extra: str) -> str:
        overrides = ["experiment=grid", "model=lenet5", "data=mnist_shifted", "seed=1", *extra]
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return settings_key(run_settings(compose("train", overrides=overrides)))

    batch = "callbacks.shift_robustness.measure.batch_size"
    assert key(f"{batch}=4096") == key() == key(f"{batch}=64")
    assert key("callbacks.shift_robustness.measure.num_images=100") != key()
