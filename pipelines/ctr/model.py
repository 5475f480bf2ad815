"""An embedding model for click-through rate: one table per id column, an MLP over them.

Raylight feeds one float32 matrix whose first columns are the categorical ids (vocabulary
indices, 0 = unknown) and passes the table sizes as `categorical_cardinalities`.
"""

from __future__ import annotations

import torch
from torch import nn


class EmbeddingMlp(nn.Module):
    """Embeddings of the id columns, concatenated with the numeric columns, into an MLP."""

    def __init__(
        self,
        num_features: int,
        num_outputs: int,
        categorical_cardinalities: list[int],
        embedding_dim: int,
        hidden: int,
    ) -> None:
        super().__init__()
        self.num_ids = len(categorical_cardinalities)
        self.embeddings = nn.ModuleList(
            nn.Embedding(size, embedding_dim) for size in categorical_cardinalities
        )
        width = self.num_ids * embedding_dim + (num_features - self.num_ids)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_outputs),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        ids = features[:, : self.num_ids].long()
        embedded = [table(ids[:, i]) for i, table in enumerate(self.embeddings)]
        return self.mlp(torch.cat([*embedded, features[:, self.num_ids :]], dim=1))


def build_ctr_model(
    num_features: int,
    num_outputs: int,
    categorical_cardinalities: list[int],
    embedding_dim: int = 16,
    hidden: int = 64,
) -> nn.Module:
    """Raylight passes the first three from the fitted data; the rest come from model.kwargs."""
    return EmbeddingMlp(num_features, num_outputs, categorical_cardinalities, embedding_dim, hidden)
