"""Hydra finds this plugin (the `hydra_plugins` namespace package, installed with the project)
whenever it starts, before it composes a config: in `train.py` and `eval.py`, and in a notebook
or a test that calls `hydra.initialize(config_path="conf")` and `compose("train")` without
importing anything of the project first.

It registers what conf/ names but YAML cannot hold: the config schemas made from the classes'
signatures (`schema/...` in the defaults lists, `mlp_vs_cnn.config.register_schemas`) and the
OmegaConf resolvers of run folders and precision (`mlp_vs_cnn.run_folders.register_resolvers`).
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class MlpVsCnnConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Imported here, not at the top: Hydra imports every plugin module of the environment,
        # and the schemas need torch and Lightning.
        from mlp_vs_cnn.config import register_schemas
        from mlp_vs_cnn.run_folders import register_resolvers

        register_schemas()
        register_resolvers()
