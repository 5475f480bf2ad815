"""Builders named in a spec: resolving them, checking their arguments, and loop-kind extras."""

from __future__ import annotations

from pathlib import Path

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


def test_pretrained_weights_must_exist_locally_and_be_safe(tmp_path: Path) -> None:
    from raylight.components import check_pretrained
    from raylight.spec.schema import ModelSpec

    def problems(pretrained: str, builder: str = "pipelines.reviews.model:build_bert") -> list[str]:
        spec = ModelSpec(builder=builder, pretrained=pretrained)
        return [p.render() for p in check_pretrained(spec, tmp_path)]

    (missing,) = problems("bert-base-uncased")  # a hub name is just a missing path here
    assert missing.startswith("model.pretrained:") and "Hub names are not downloaded" in missing
    (tmp_path / "weights.bin").write_bytes(b"")
    (pickled,) = problems("weights.bin")
    assert "not a .safetensors file" in pickled
    (tmp_path / "weights.safetensors").write_bytes(b"")
    assert problems("weights.safetensors") == []
    (tmp_path / "saved").mkdir()
    assert problems("saved") == []  # build_bert takes `pretrained`
    (no_argument,) = problems("saved", "pipelines.digits.model:build_mlp")
    assert "has no `pretrained` argument" in no_argument


def test_freeze_leaves_prefixes_untrained_and_names_a_wrong_one() -> None:
    from torch import nn

    from raylight.runs.pretrained import freeze

    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    freeze(model, ["0"])
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    with pytest.raises(ComponentError, match="no parameter is under 'encoder'"):
        freeze(model, ["encoder"])


def test_safetensors_start_loads_matching_tensors_and_keeps_a_new_head(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torch import nn

    from raylight.runs.pretrained import load_matching

    source = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))  # a 5-class head
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    target = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))  # this data: 2 classes
    head = target[1].weight.detach().clone()
    load_matching(target, tmp_path / "w.safetensors")
    assert torch.equal(target[0].weight, source[0].weight)
    assert torch.equal(target[1].weight, head)
