"""The `data` section: where rows come from, the validation split, preprocessing steps.

Tables, folders of images and text columns: an `image` step makes the model input `image`, a
`tokenize` step makes `input_ids` and `attention_mask`, table columns make `features`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from raylight.spec.base import BUILDER_PATTERN, Section


class ParquetSource(Section):
    format: Literal["parquet"] = Field(description="Read Parquet with Ray Data.")
    path: str = Field(
        description="Parquet file or directory. Relative paths are relative to the spec file."
    )


class CsvSource(Section):
    format: Literal["csv"] = Field(description="Read CSV with Ray Data.")
    path: str = Field(
        description="CSV file or directory. Relative paths are relative to the spec file."
    )


class JsonSource(Section):
    format: Literal["json"] = Field(description="Read JSON Lines with Ray Data.")
    path: str = Field(
        description="JSON Lines file or directory. Relative paths are relative to the spec file."
    )


class ImageFolderSource(Section):
    format: Literal["image_folder"] = Field(
        description="A folder of image files, one subfolder per class (the ImageFolder layout): "
        "rows of `image` (the file's bytes), `path` and `label` (the subfolder's name)."
    )
    path: str = Field(description="The folder. Relative paths are relative to the spec file.")
    extensions: list[str] = Field(
        default_factory=lambda: [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"],
        min_length=1,
        description="File name endings read as images (case-insensitive); others are skipped.",
    )


class BuilderSource(Section):
    format: Literal["builder"] = Field(description="Call a Python function for the data.")
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a path to a .parquet/.csv/.jsonl file or "
        "directory, a folder of class subfolders of images, or a pandas DataFrame. Imported "
        "from the project root.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )


DataSource = Annotated[
    ParquetSource | CsvSource | JsonSource | ImageFolderSource | BuilderSource,
    Field(discriminator="format"),
]


class ValidationSplit(Section):
    fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out for validation."
    )
    seed: int = Field(default=0, description="Seed of the shuffle before the split.")


class StandardizeStep(Section):
    kind: Literal["standardize"] = Field(description="(x - mean) / std, fitted on the train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to standardize; null means every numeric feature."
    )


class MinMaxStep(Section):
    kind: Literal["min_max"] = Field(description="(x - min) / (max - min), fitted on train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to scale; null means every numeric feature."
    )


class CategoricalEncodeStep(Section):
    kind: Literal["categorical"] = Field(
        description="Integer or string id columns -> vocabulary indices fitted on the train "
        "split, by frequency; index 0 is every unknown value (unseen in training, rare, or "
        "missing), so serving never fails on a new id. The model gets the indices first in "
        "`features` and the table sizes as `categorical_cardinalities`."
    )
    columns: list[str] = Field(min_length=1, description="The id columns to encode.")
    max_categories: int = Field(
        default=100_000,
        ge=1,
        le=2**24 - 1,
        description="Most frequent values kept per column; the rest map to the unknown index.",
    )
    min_frequency: int = Field(
        default=1, ge=1, description="Values seen fewer times in training map to unknown."
    )


class GivenNormalization(Section):
    mean: list[float] = Field(min_length=1, max_length=3, description="Per channel, in [0, 1].")
    std: list[float] = Field(min_length=1, max_length=3, description="Per channel, > 0.")

    @model_validator(mode="after")
    def _same_length(self) -> GivenNormalization:
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError("mean and std need one value per channel each, and std > 0")
        return self


class ImageAugment(Section):
    random_resized_crop: tuple[float, float] | None = Field(
        default=None,
        description="[min, max] share of the image's area to crop at random (aspect 3/4-4/3), "
        "then resized to `size`; e.g. [0.8, 1.0].",
    )
    horizontal_flip: bool = Field(default=False, description="Flip half the images left-right.")

    @model_validator(mode="after")
    def _scale_range(self) -> ImageAugment:
        crop = self.random_resized_crop
        if crop is not None and not 0 < crop[0] <= crop[1] <= 1:
            raise ValueError("random_resized_crop needs 0 < min <= max <= 1, e.g. [0.8, 1.0]")
        return self


class ImageStep(Section):
    kind: Literal["image"] = Field(
        description="Decode an image column into the model input `image` (N, C, size, size), "
        "float32: convert to `mode`, resize the shorter side to `resize`, center-crop to "
        "`size`, scale to [0, 1], normalize. Training alone adds `augment`."
    )
    column: str = Field(
        default="image",
        description="The column with each image's bytes or file path (relative paths: from the "
        "table's folder). An image_folder source names it `image`.",
    )
    size: int = Field(ge=4, le=4096, description="Side of the square the model receives.")
    resize: int | None = Field(
        default=None, ge=4, le=8192, description="Shorter side before the crop; null: `size`."
    )
    mode: Literal["RGB", "L"] = Field(
        default="RGB", description="RGB (3 channels) or L (grayscale, 1); mixed files convert."
    )
    normalize: Literal["fitted", "none"] | GivenNormalization = Field(
        default="fitted",
        description="`fitted`: per-channel mean/std of the training split; `none`; or "
        "{mean, std} given (e.g. ImageNet's for pretrained weights).",
    )
    augment: ImageAugment | None = Field(
        default=None,
        description="Random changes for training only, never for validation, or serving.",
    )
    skip_unreadable: bool = Field(
        default=False,
        description="Files that do not decode as images: false stops before training with "
        "their count and names; true skips them (and says how many).",
    )

    @model_validator(mode="after")
    def _resize_covers_size(self) -> ImageStep:
        if self.resize is not None and self.resize < self.size:
            raise ValueError(
                f"resize {self.resize} is smaller than size {self.size}; the crop "
                "needs resize >= size"
            )
        channels = 3 if self.mode == "RGB" else 1
        if isinstance(self.normalize, GivenNormalization) and len(self.normalize.mean) != channels:
            raise ValueError(
                f"normalize needs {3 if self.mode == 'RGB' else 1} values for mode {self.mode}"
            )
        return self


class TrainedTokenizer(Section):
    train: Literal["wordpiece", "bpe"] = Field(
        description="Train this kind of tokenizer on the training split's text (`tokenizers`)."
    )
    vocab_size: int = Field(default=8000, ge=100, le=1_000_000, description="Vocabulary size.")
    lowercase: bool = Field(default=True, description="Lowercase and strip accents first.")
    min_frequency: int = Field(
        default=2, ge=1, description="Rarer words are not in the vocabulary."
    )


class LoadedTokenizer(Section):
    path: str = Field(
        description="A `tokenizer.json`, or a local Hugging Face tokenizer directory holding one "
        "(never a hub name). Relative paths are relative to the spec file."
    )


class TokenizeStep(Section):
    kind: Literal["tokenize"] = Field(
        description="Tokenize a text column into `input_ids` and `attention_mask` (N, "
        "max_length), int64, truncated and padded to max_length. The tokenizer is saved in "
        "every checkpoint as its tokenizer.json."
    )
    column: str = Field(default="text", description="The text column.")
    tokenizer: TrainedTokenizer | LoadedTokenizer = Field(
        description="{train: wordpiece|bpe, vocab_size} or {path: tokenizer.json or directory}."
    )
    max_length: int = Field(default=128, ge=4, le=65_536, description="Tokens per text.")


PreprocessingStep = Annotated[
    StandardizeStep | MinMaxStep | CategoricalEncodeStep | ImageStep | TokenizeStep,
    Field(discriminator="kind"),
]


class DataSpec(Section):
    source: DataSource = Field(description="Where the rows come from.")
    label: str = Field(min_length=1, description="Name of the label (target) column.")
    features: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Feature columns: numeric, or integer/string ids that a `categorical` "
        "step encodes; null means every column except the label (with an image or tokenize "
        "step: none, the model gets the image or text alone).",
    )
    validation: ValidationSplit = Field(
        default_factory=ValidationSplit, description="Hold-out split."
    )
    preprocessing: list[PreprocessingStep] = Field(
        default_factory=list,
        description="Steps fitted on the training split, saved with every checkpoint as plain "
        "JSON and re-applied to every request at serving time.",
    )

    @model_validator(mode="after")
    def _label_is_not_a_feature(self) -> DataSpec:
        if self.features is not None and self.label in self.features:
            raise ValueError(
                f"data.label {self.label!r} is also listed in data.features; remove it from "
                "data.features."
            )
        encoded = [
            name
            for step in self.preprocessing
            if isinstance(step, CategoricalEncodeStep)
            for name in step.columns
        ]
        if self.label in encoded:
            raise ValueError(
                f"data.preprocessing: the label {self.label!r} cannot be a categorical feature; "
                "class labels are encoded already."
            )
        media = [s for s in self.preprocessing if isinstance(s, ImageStep | TokenizeStep)]
        if isinstance(self.source, ImageFolderSource):
            if self.label != "label":
                raise ValueError(
                    f"data.label {self.label!r}: an image_folder source's label column is "
                    "`label` (the subfolder names); set data.label: label."
                )
            if not any(isinstance(s, ImageStep) and s.column == "image" for s in media):
                raise ValueError(
                    "data.preprocessing: an image_folder source needs an image step on its "
                    "`image` column, e.g. {kind: image, size: 32}."
                )
        for kind in ("image", "tokenize"):
            if sum(s.kind == kind for s in media) > 1:
                raise ValueError(f"data.preprocessing: one `{kind}` step at most.")
        for step in media:
            if step.column == self.label or step.column in (self.features or []):
                raise ValueError(
                    f"data.preprocessing: the {step.kind} column {step.column!r} cannot also be "
                    "the label or in data.features."
                )
        if len(set(encoded)) < len(encoded):
            raise ValueError("data.preprocessing: a column is in more than one categorical step.")
        outside = [n for n in encoded if self.features is not None and n not in self.features]
        if outside:
            raise ValueError(
                f"data.preprocessing: categorical columns {outside} are not in data.features; "
                "add them there."
            )
        return self


def produced_columns(data: DataSpec) -> tuple[str, ...]:
    """The columns of the prepared datasets a loop reads (preprocessing.transforms makes them)."""
    image = any(isinstance(step, ImageStep) for step in data.preprocessing)
    text = any(isinstance(step, TokenizeStep) for step in data.preprocessing)
    # With an image or text step, table features are only those data.features lists.
    table = bool(data.features) if image or text else data.features != []
    return (
        "label",
        *(["features"] if table else []),
        *(["image"] if image else []),
        *(["input_ids", "attention_mask"] if text else []),
    )
