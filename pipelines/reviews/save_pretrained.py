"""Save a trained reviews checkpoint as a Hugging Face model directory, tokenizer included.

    python -m pipelines.reviews.save_pretrained pipelines/reviews/experiment.yaml

writes pipelines/reviews/.data/pretrained/ (config.json, model.safetensors, tokenizer.json)
from the spec's latest run: what finetune.yaml starts from with `model.pretrained`, loaded by
`from_pretrained`, and its tokenizer by `tokenizer.path`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from raylight.runs.checkpoints import load_model
from raylight.serving.targets import resolve_target

DEFAULT_OUTPUT = Path(__file__).resolve().parent / ".data" / "pretrained"


def save_pretrained(spec_or_checkpoint: str, output: Path = DEFAULT_OUTPUT) -> Path:
    target = resolve_target(spec_or_checkpoint, ())
    model, meta = load_model(target.checkpoint_path)
    model.save_pretrained(output)  # type: ignore[operator]
    text = meta.parsed_preprocessing.text
    if text is None:
        raise SystemExit(f"{spec_or_checkpoint}: its data has no tokenize step")
    (output / "tokenizer.json").write_text(json.dumps(text.to_dict()["tokenizer"]))
    return output


if __name__ == "__main__":
    print(
        save_pretrained(sys.argv[1] if len(sys.argv) > 1 else "pipelines/reviews/experiment.yaml")
    )
