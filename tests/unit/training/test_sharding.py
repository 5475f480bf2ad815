"""FSDP's units: which submodules of a built model are sharded on their own."""

from __future__ import annotations

from raylight.components import call_model_builder


def test_fsdp_units_are_the_children_with_parameters_and_container_members() -> None:
    from raylight.training.sharding import shard_units

    mlp = call_model_builder(
        "pipelines.digits.model:build_mlp",
        {"hidden": 8},
        {"num_features": 4, "num_outputs": 2, "categorical_cardinalities": []},
    )
    assert shard_units(mlp) == [mlp[0], mlp[3], mlp[6]]  # the Linear layers, not ReLU/Dropout
    ctr = call_model_builder(
        "pipelines.ctr.model:build_ctr_model",
        {},
        {"num_features": 5, "num_outputs": 2, "categorical_cardinalities": [7, 3]},
    )
    # A ModuleList has no forward, which fully_shard refuses: its tables are the units.
    assert shard_units(ctr) == [*ctr.embeddings, ctr.mlp]
