"""Hydra finds this plugin (the `hydra_plugins` namespace package, installed with the project)
whenever it starts, before it composes a config: in `train.py` and `eval.py`, and in a notebook
or a test that calls `hydra.initialize(config_path="conf")` and `compose("train")` without
importing anything of the project first.

It registers what conf/ names but YAML cannot hold: the config schemas made from the classes'
signatures (`schema/...` in the defaults lists, `mlp_vs_cnn.schemas.register_schemas`), the
OmegaConf resolvers of run folders and precision (`mlp_vs_cnn.run_folders.register_resolvers`),
and the data options `<dataset>_<variant>` (`register_data_options`).
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin


def register_data_options(conf_dir: Path) -> None:
    """`data=<dataset>_<variant>` for every dataset of conf/data/ and variant of conf/variant/:
    the dataset's config, then the variant's keys over it (`data=fashion_permuted` is
    `data=fashion` with conf/variant/permuted.yaml). A new variant is one file there."""
    datasets = sorted(p.stem for p in (conf_dir / "data").glob("*.yaml"))
    variants = sorted(p.stem for p in (conf_dir / "variant").glob("*.yaml"))
    store = ConfigStore.instance()
    for dataset in datasets:
        for variant in variants:
            node = {"defaults": [dataset, f"/variant/{variant}", "_self_"]}
            store.store(group="data", name=f"{dataset}_{variant}", node=node)


class MlpVsCnnConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Imported here, not at the top: Hydra imports every plugin module of the environment,
        # and the schemas need torch and Lightning.
        from mlp_vs_cnn.run_folders import register_resolvers
        from mlp_vs_cnn.schemas import register_schemas

        register_schemas()
        register_resolvers()
        for element in search_path.get_path():  # the project's conf/ (train.py's config_path)
            if element.provider == "main" and not element.path.startswith("pkg://"):
                register_data_options(Path(element.path.removeprefix("file://")))
