"""The records of a study (`results/<task>/<model>_<data>[_k<block>]_s<seed>-<key>.json`): one
small JSON file per finished run, written by `train.py results_dir=...` and checked whenever one
is read, by `make reproduce` (which reruns a run whose record is missing or fails a check) and by
`make report` (which names every record it leaves out and why).

A record is counted only if it is a finished run's (`status`), has every field with its type
(`FIELDS`), its accuracies are in [0, 1] and its other metrics finite numbers, its `key` is the
digest of its `settings` and its file is named after that key (a record edited or cut short
fails here), its `seed` is the seed of its settings, and, for records that carry one, its
`checksum` (of the whole record) matches. Two files of one key are one run, counted once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlp_vs_cnn.record import METRICS_FILE, settings_key

# Every field a record has, and its type.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "status": str,
    "task": str,
    "key": str,
    "settings": dict,
    "choices": dict,
    "seed": int,
    "metrics": dict,
    "num_parameters": int,
    "fit_seconds": (int, float),
    "epochs": int,
    "global_step": int,
    "code": str,
}
BOUNDED_METRICS = ("acc", "acc_best", "consistency", "consistency_local")  # fractions in [0, 1]


class RecordError(ValueError):
    """A record that cannot be counted; the message says why."""


def checksum(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record without its own `checksum` field (keys sorted)."""
    content = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def check_record(record: Any) -> dict[str, Any]:
    """`record` if it can be counted, else `RecordError` naming the first problem."""
    if not isinstance(record, dict):
        raise RecordError("not a JSON object")
    for field, kind in FIELDS.items():
        if field not in record:
            raise RecordError(f"no {field!r} field")
        value = record[field]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise RecordError(f"{field} is {value!r}, not of type {_name(kind)}")
    if record["status"] != "finished":
        raise RecordError(f"status is {record['status']!r}: not a finished run")
    if record.get("checksum") is not None and record["checksum"] != checksum(record):
        raise RecordError("its checksum does not match its content (edited or damaged)")
    if settings_key(record["settings"]) != record["key"]:
        raise RecordError(f"its settings are not those of its key {record['key']} (edited?)")
    if record["settings"].get("seed") != record["seed"]:
        raise RecordError(
            f"seed {record['seed']} is not its settings' {record['settings'].get('seed')}"
        )
    for group in ("model", "data"):
        if not isinstance(record["choices"].get(group), str):
            raise RecordError(f"choices has no {group!r}")
    metrics = record["metrics"]
    if "test/acc" not in metrics:
        raise RecordError("no test/acc: the run was not tested")
    for name, value in metrics.items():
        if not _finite(value):
            raise RecordError(f"metric {name} is {value!r}, not a finite number")
        if name.rsplit("/", 1)[-1] in BOUNDED_METRICS and not 0 <= value <= 1:
            raise RecordError(f"metric {name} is {value}, outside [0, 1]")
    history = record.get("history") or {}
    if not isinstance(history, dict):
        raise RecordError(f"history is {type(history).__name__}, not an object of curves")
    for name, curve in history.items():
        if not isinstance(curve, list) or not all(_finite(v) for v in curve):
            raise RecordError(f"history of {name} is not a list of finite numbers")
    return record


def _finite(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value)


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordError(f"not readable as JSON ({err})") from None


def read_record(path: str | Path) -> dict[str, Any]:
    """The checked record in `path`; `RecordError` if it cannot be counted."""
    record = check_record(read_json(path))
    if not Path(path).name.endswith(f"-{record['key']}.json"):
        raise RecordError(f"its file name does not end with its key -{record['key']}.json")
    return record


def read_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The study records under `folder` that can be counted, each run once, and every file
    left out with the reason. Run folders' own `metrics.json` and JSON files that are no
    records at all (a benchmark's) are not looked at."""
    records, skipped, seen = [], [], {}
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name == METRICS_FILE:
            continue
        try:
            raw = read_json(path)
            if isinstance(raw, dict) and "metrics" not in raw and "key" not in raw:
                continue  # not a record
            record = read_record(path)
        except RecordError as err:
            skipped.append((path, str(err)))
            continue
        if record["key"] in seen:
            skipped.append((path, f"the same run as {seen[record['key']]}, counted once"))
            continue
        seen[record["key"]] = path
        records.append(record)
    return records, skipped


def recorded_keys(folder: str | Path) -> tuple[set[str], list[tuple[Path, str]]]:
    """The keys of the runs `folder` holds a countable record of, and the files left out."""
    records, skipped = read_records(folder)
    return {r["key"] for r in records}, skipped


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "string", "dict": "object", "int": "integer", "float": "number"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
