"""A generated corpus of product reviews with sentiment labels: offline, the same every time.

Each review has zero to two opinion clauses (mostly one) ("the battery was not great") among filler
sentences of varied length. A clause's polarity is its adjective's, flipped by a negation
directly before it ("not", "never", "hardly"). The label is the sign of the summed polarity:
positive, negative, or neutral (no opinion, or opinions that cancel). Negation and mixed
opinions are why a bag of words cannot score it perfectly: "not great ... bad" and "great ...
not bad" hold the same words with opposite labels.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / ".data"
NUM_REVIEWS = 24_000
SEED = 7

POSITIVE = [
    "great",
    "good",
    "excellent",
    "superb",
    "solid",
    "reliable",
    "sturdy",
    "comfortable",
    "quick",
    "fast",
    "bright",
    "clear",
    "quiet",
    "smooth",
    "lovely",
    "handy",
    "elegant",
    "responsive",
    "accurate",
    "durable",
    "generous",
    "crisp",
    "pleasant",
    "brilliant",
    "flawless",
    "intuitive",
    "helpful",
    "sharp",
]
NEGATIVE = [
    "bad",
    "poor",
    "awful",
    "terrible",
    "flimsy",
    "unreliable",
    "slow",
    "dim",
    "noisy",
    "clunky",
    "cheap",
    "fragile",
    "sluggish",
    "inaccurate",
    "disappointing",
    "useless",
    "broken",
    "blurry",
    "harsh",
    "awkward",
    "confusing",
    "faulty",
    "weak",
    "mediocre",
    "shoddy",
    "annoying",
    "dull",
]
NEGATIONS = ("not", "never", "hardly")
ASPECTS = [
    "battery",
    "screen",
    "keyboard",
    "speaker",
    "camera",
    "charger",
    "case",
    "strap",
    "lid",
    "handle",
    "hinge",
    "cable",
    "menu",
    "app",
    "remote",
    "lens",
    "fan",
    "motor",
    "button",
    "display",
    "sound",
    "picture",
    "grip",
    "finish",
    "manual",
    "packaging",
    "warranty",
    "support",
    "delivery",
    "price",
    "design",
    "fabric",
    "zipper",
    "wheel",
    "blade",
    "filter",
]
PRODUCTS = [
    "laptop",
    "phone",
    "kettle",
    "blender",
    "headset",
    "tablet",
    "vacuum",
    "camera",
    "drill",
    "lamp",
    "backpack",
]
VERBS = ("was", "is", "felt", "seemed", "turned out", "looks")
INTENSIFIERS = ("", "", "really ", "very ", "quite ", "rather ", "truly ")
FILLERS = (
    "i bought this {product} {n} weeks ago",
    "it arrived on a {day}",
    "my {relative} uses the {product} every day",
    "we compared it with an older {product}",
    "the box had a {product} and a {aspect}",
    "i use it mostly for {use}",
    "it replaced the {product} we had before",
    "the {aspect} is the same colour as the {product}",
    "delivery took {n} days",
    "i have owned {n} of these so far",
)
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
RELATIVES = [
    "sister",
    "brother",
    "mother",
    "father",
    "partner",
    "son",
    "daughter",
    "friend",
    "colleague",
]
USES = [
    "work",
    "travel",
    "cooking",
    "school",
    "gaming",
    "music",
    "photos",
    "cleaning",
    "the",
    "garden",
]


def review(rng: random.Random) -> tuple[str, str]:
    """One review's text and label."""
    sentences, polarity = [], 0
    for _ in range(rng.choice((0, 1, 1, 1, 1, 2))):
        positive = rng.random() < 0.5
        adjective = rng.choice(POSITIVE if positive else NEGATIVE)
        negated = rng.random() < 0.3
        sign = (1 if positive else -1) * (-1 if negated else 1)
        polarity += sign
        modifier = f"{rng.choice(NEGATIONS)} " if negated else rng.choice(INTENSIFIERS)
        sentences.append(f"the {rng.choice(ASPECTS)} {rng.choice(VERBS)} {modifier}{adjective}")
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        sentences.insert(
            rng.randrange(len(sentences) + 1),
            rng.choice(FILLERS).format(
                product=rng.choice(PRODUCTS),
                aspect=rng.choice(ASPECTS),
                n=rng.randint(2, 9),
                day=rng.choice(DAYS),
                relative=rng.choice(RELATIVES),
                use=rng.choice(USES),
            ),
        )
    label = "positive" if polarity > 0 else "negative" if polarity < 0 else "neutral"
    return ". ".join(sentences) + ".", label


def write_reviews(
    output_dir: str | None = None,
    num_reviews: int = NUM_REVIEWS,
    seed: int = SEED,
    binary: bool = False,
) -> str:
    """Write {"text", "label"} JSON Lines once, atomically; return the file's path.

    `binary` keeps only positive and negative reviews (a different task, for fine-tuning).
    """
    directory = Path(output_dir).expanduser() if output_dir else DEFAULT_DIR
    suffix = "-binary" if binary else ""
    path = directory / f"reviews-{num_reviews}-{seed}{suffix}.jsonl"
    if path.is_file():
        return str(path)
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".jsonl.tmp")
    with temporary.open("w") as out:
        written = 0
        while written < num_reviews:
            text, label = review(rng)
            if binary and label == "neutral":
                continue
            out.write(json.dumps({"text": text, "label": label}) + "\n")
            written += 1
    temporary.replace(path)
    return str(path)
