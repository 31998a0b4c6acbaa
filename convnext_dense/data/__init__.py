"""The dataset room: what the toolkit does with datasets and their configs.

* :mod:`.checks`: a dataset's contents checked before training or testing
  starts, and :func:`.checks.guard_loading`;
* :mod:`.loading`: the checked image and annotation loading transforms
  ``guard_loading`` puts in the pipelines;
* :mod:`.wrappers`: the dataset configs inside dataset wrappers;
* :mod:`.toy`: generators of the embedded toy datasets.

Import the submodule you need; nothing here is imported eagerly.
"""
