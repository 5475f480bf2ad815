"""The `resources` section: Ray Train workers and their placement."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from raylight.spec.base import Section


class ResourcesSpec(Section):
    num_workers: int = Field(
        default=2,
        ge=0,
        description="Ray Train workers (DDP ranks). 0 = in-process sweep trials: each Tune "
        "trial trains inside its own (reused) trial actor, which holds cpus/gpus_per_worker; no "
        "worker group to start, for small models where start-up would dominate. A plain "
        "`raylight train` of such a spec runs one worker.",
    )
    cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs reserved per worker.")
    gpus_per_worker: float = Field(
        default=0.0, ge=0, description="GPUs per worker; > 0 trains on GPUs with NCCL."
    )
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        default="PACK",
        description="How the workers' placement group lays them over nodes: PACK fills few "
        "nodes (fast collectives), SPREAD spreads them (and after a node dies, packs them on "
        "the rest); STRICT_ variants refuse to start otherwise.",
    )
