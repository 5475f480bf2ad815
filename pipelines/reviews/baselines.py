"""What the reviews task gives away without word order: the majority class and a bag of words.

    python -m pipelines.reviews.baselines pipelines/reviews/experiment.yaml

reads the spec's data with Ray Data and splits it exactly as training does (the same seeded
train_test_split), then scores the majority class and a logistic regression on word counts
(scikit-learn) on the validation split. The README's figures come from this.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def baselines(spec_path: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    import ray
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from raylight.preprocessing.sources import read_source
    from raylight.spec import load_spec

    loaded = load_spec(spec_path, list(overrides))
    data = loaded.spec.data
    text = next(s.column for s in data.preprocessing if s.kind == "tokenize")
    ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    raw = read_source(data.source, loaded.base_dir).dataset.select_columns([text, data.label])
    train, val = raw.train_test_split(
        test_size=data.validation.fraction, shuffle=True, seed=data.validation.seed
    )
    train_frame, val_frame = train.to_pandas(), val.to_pandas()
    majority = train_frame[data.label].value_counts().idxmax()
    counts = CountVectorizer()
    bag = LogisticRegression(max_iter=5000).fit(
        counts.fit_transform(train_frame[text]), train_frame[data.label]
    )
    predicted = bag.predict(counts.transform(val_frame[text]))
    return {
        "val_rows": len(val_frame),
        "majority_class": float((val_frame[data.label] == majority).mean()),
        "bag_of_words": float((predicted == val_frame[data.label]).mean()),
    }


if __name__ == "__main__":
    # python -m pipelines.reviews.baselines SPEC [OVERRIDE ...]
    spec = sys.argv[1] if len(sys.argv) > 1 else "pipelines/reviews/experiment.yaml"
    print(baselines(spec, sys.argv[2:]))
