from __future__ import annotations

import pytest

from raylight.components import call_model_builder, check_builders, check_kwargs, resolve
from raylight.errors import ComponentError
from raylight.spec.schema import BuilderSource, ModelSpec


def test_resolve_suggests_close_names() -> None:
    with pytest.raises(ComponentError, match="Did you mean 'build_mlp'"):
        resolve("pipelines.digits.model:build_mpl", "model.builder")


def test_resolve_reports_unimportable_module() -> None:
    with pytest.raises(ComponentError, match="cannot import module 'no_such_module'"):
        resolve("no_such_module:build", "model.builder")


def test_check_kwargs_names_the_field_and_suggests() -> None:
    def build(num_features: int, num_outputs: int, hidden: int = 8) -> None: ...

    with pytest.raises(ComponentError, match=r"model.kwargs.hiden: .*Did you mean 'hidden'"):
        check_kwargs(build, {"hiden": 3}, "model.kwargs", ("num_features", "num_outputs"))
    check_kwargs(build, {"hidden": 3}, "model.kwargs", ("num_features", "num_outputs"))


def test_missing_required_builder_argument() -> None:
    def build(width: int) -> None: ...

    with pytest.raises(ComponentError, match="needs width"):
        check_kwargs(build, {}, "model.kwargs")


def test_model_builder_gets_data_shapes() -> None:
    shapes = {"num_features": 64, "num_outputs": 10, "categorical_cardinalities": []}
    model = call_model_builder("pipelines.digits.model:build_mlp", {"hidden": 16}, shapes)
    assert model[0].in_features == 64 and model[-1].out_features == 10


def test_embedding_model_gets_its_table_sizes() -> None:
    shapes = {"num_features": 5, "num_outputs": 2, "categorical_cardinalities": [7, 3]}
    model = call_model_builder("pipelines.ctr.model:build_ctr_model", {"embedding_dim": 4}, shapes)
    assert [table.num_embeddings for table in model.embeddings] == [7, 3]
    assert model.mlp[0].in_features == 2 * 4 + 3  # two embeddings + three numeric columns


def test_check_builders_collects_every_problem() -> None:
    found = check_builders(
        ModelSpec(builder="pipelines.digits.model:nope"),
        BuilderSource(format="builder", builder="pipelines.digits.data:nope"),
    )
    assert [p.message.split(":")[0] for p in found] == ["model.builder", "data.source.builder"]


def test_failure_cause_finds_the_workers_error_line() -> None:
    from raylight.training.trainer import failure_cause

    class WorkerGroupFailure(Exception):
        def __init__(self) -> None:
            super().__init__("Training failed due to worker errors:\n[Rank 0] ...")
            self.worker_failures = {
                0: RuntimeError(
                    "Traceback (most recent call last):\n  File x\n"
                    "RuntimeError: Trying to create tensor with negative dimension -1"
                )
            }

    assert failure_cause(WorkerGroupFailure()).endswith("negative dimension -1")
    assert failure_cause(ValueError("plain")) == "plain"


def test_a_loop_kind_whose_extra_is_missing_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from raylight.components import check_loop_function
    from raylight.spec.schema import HfTrainerLoop, LightningLoop

    assert check_loop_function(LightningLoop(kind="lightning")) == []  # installed here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as without the extra
    (problem,) = check_loop_function(LightningLoop(kind="lightning"))
    assert problem.render() == (
        "train.loop.kind: 'lightning' needs the lightning package, an optional dependency: "
        "pip install 'raylight[lightning]'"
    )
    hf = HfTrainerLoop(kind="hf_trainer", trainer="pipelines.digits.hf_trainer:build_trainer")
    (problem,) = check_loop_function(hf)
    assert "pip install 'raylight[transformers]'" in problem.render()


def test_accelerate_gets_precision_and_accumulation_from_the_environment() -> None:
    from raylight.spec import load_spec
    from raylight.training.loops.accelerate import accelerate_environment
    from tests.conftest import ACCELERATE_SPEC

    spec = load_spec(ACCELERATE_SPEC, ["train.precision=32"]).spec
    assert accelerate_environment(spec.train) == {
        "ACCELERATE_MIXED_PRECISION": "no",
        "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "2",
    }
    bf16 = load_spec(ACCELERATE_SPEC, ["train.precision=bf16"]).spec
    assert accelerate_environment(bf16.train)["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_a_datamodule_builder_is_checked_before_anything_starts() -> None:
    from raylight.components import check_loop_function
    from raylight.spec.schema import LightningLoop

    good = "pipelines.digits.lightning_module:build_datamodule"
    assert check_loop_function(LightningLoop(kind="lightning", datamodule=good)) == []
    (typo,) = check_loop_function(
        LightningLoop(
            kind="lightning", datamodule="pipelines.digits.lightning_module:build_datamodul"
        )
    )
    assert "train.loop.datamodule" in typo.render() and "build_datamodule" in typo.render()
    (extra,) = check_loop_function(
        LightningLoop(kind="lightning", datamodule=good, datamodule_kwargs={"batchsize": 8})
    )
    assert "train.loop.datamodule_kwargs.batchsize" in extra.render()


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


def datamodule_with_an_object_hparam(preprocessing: object) -> object:
    import lightning.pytorch as pl

    class Module(pl.LightningDataModule):
        def __init__(self, preprocessing: object, batch_size: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()

    return Module(preprocessing)


def test_a_datamodule_with_objects_in_its_hparams_is_refused_before_training() -> None:
    from raylight.preprocessing.transforms import FittedPreprocessing
    from raylight.spec import load_spec
    from raylight.training.loops.lightning import fit_data
    from tests.conftest import LIGHTNING_DATAMODULE_SPEC

    builder = "tests.unit.test_components:datamodule_with_an_object_hparam"
    spec = load_spec(LIGHTNING_DATAMODULE_SPEC, [f"train.loop.datamodule={builder}"]).spec
    fitted = FittedPreprocessing(("a",), "y", "classification", (0, 1))
    with pytest.raises(ComponentError, match=r"hparams \['preprocessing'\] are objects"):
        fit_data(spec, fitted)
