"""Builders named in a spec: resolving them, checking their arguments, and loop-kind extras."""

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
