"""LoopConfig: what every worker of a Raylight-built loop is given, typed on both sides.

Ray hands a worker function one plain dict (`train_loop_config`); this is its only shape. The
driver builds a LoopConfig and sends `to_dict()`; the worker's first line is `from_dict`, which
re-validates the spec, so a worker never reads a raw key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.runs.checkpoints import CheckpointMeta
from raylight.spec.schema import Spec


@dataclass(frozen=True)
class LoopConfig:
    spec: Spec
    spec_hash: str
    preprocessing: FittedPreprocessing
    train_rows: int  # sizes the per-step lr schedule and the HF Trainer's max_steps
    run_path: str | None = None  # the run directory (Lightning's logs go there)
    start_from: str | None = None  # a checkpoint the run begins from (a PBT donor's)
    pretrained: dict[str, Any] | None = None  # model.pretrained: absolute path and sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "spec_hash": self.spec_hash,
            "preprocessing": self.preprocessing.to_dict(),
            "train_rows": self.train_rows,
            "run_path": self.run_path,
            "start_from": self.start_from,
            "pretrained": self.pretrained,
        }

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LoopConfig:
        return cls(
            spec=Spec.model_validate(config["spec"]),
            spec_hash=str(config["spec_hash"]),
            preprocessing=FittedPreprocessing.from_dict(config["preprocessing"]),
            train_rows=int(config["train_rows"]),
            run_path=config.get("run_path"),
            start_from=config.get("start_from"),
            pretrained=config.get("pretrained"),
        )

    def checkpoint_meta(
        self,
        metrics: dict[str, float],
        run_id: str | None,
        started_from: dict[str, Any] | None = None,
    ) -> CheckpointMeta:
        """The metadata of an epoch's checkpoint written by this loop."""
        return CheckpointMeta.of_epoch(
            spec=self.spec.model_dump(mode="json"),
            spec_hash=self.spec_hash,
            preprocessing=self.preprocessing.to_dict(),
            metrics=metrics,
            run_id=run_id,
            started_from=started_from,
            pretrained=self.pretrained,
        )
