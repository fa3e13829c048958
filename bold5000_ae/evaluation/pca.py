"""PCA fitted on training rows: the linear baseline every reconstruction and representation is
compared with (``sklearn.decomposition.PCA``; ``IncrementalPCA`` when the training matrix is
too large to decompose at once)."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA, IncrementalPCA

# above this many training values (rows × voxels), PCA is fitted in batches
INCREMENTAL_ABOVE = 50_000_000


def fit_pca(train: np.ndarray, k: int, seed: int = 0) -> PCA | IncrementalPCA:
    """PCA with ``k`` components on ``train`` (IncrementalPCA when the matrix is large)."""
    k = int(min(k, train.shape[0], train.shape[1]))
    if train.size > INCREMENTAL_ABOVE:
        return IncrementalPCA(n_components=k, batch_size=max(k, 1024)).fit(train)
    return PCA(n_components=k, svd_solver="full", random_state=seed).fit(train)
