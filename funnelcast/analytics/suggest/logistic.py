"""The model fit: scikit-learn's L2-regularised LogisticRegression (lbfgs), on a dense or sparse
matrix, with the columns a mask names standardised and the weights given back in raw units.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

MAX_ITER = 500


def fit_logistic(
    x: np.ndarray | sp.spmatrix | sp.sparray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    standardise: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Return (intercept, weights per column of x) of an L2-regularised logistic regression.

    The penalty is l2/2 x the sum of squared weights (scikit-learn's C = 1 / l2), of the column
    scaled to unit spread where standardise (a mask; default all) says so and of the raw column
    elsewhere; the intercept is not penalised. Weights come back in x's own units. Columns that
    do not vary get 0; a single class gets its smoothed log-odds as intercept and no weights.
    """
    y = np.asarray(y, dtype=bool)
    n, k = x.shape
    beta = np.zeros(k)
    positives = int(np.count_nonzero(y))
    if positives == 0 or positives == n:
        return math.log((positives + 0.5) / (n - positives + 0.5)), beta
    mean = np.asarray(x.mean(axis=0), dtype=np.float64).ravel()
    if sp.issparse(x):
        squares = np.asarray(sp.csr_matrix(x).multiply(x).mean(axis=0)).ravel()
    else:
        squares = np.square(np.asarray(x), dtype=np.float64).mean(axis=0)
    sd = np.sqrt(np.maximum(squares - mean**2, 0.0))
    varies = sd > 1e-9 * np.maximum(1.0, np.abs(mean))
    if not varies.any():
        return math.log(positives / (n - positives)), beta
    scale = np.where(standardise if standardise is not None else True, sd, 1.0)
    scale = np.where(varies, scale, 1.0)
    # scaled without centring, so that a sparse matrix stays sparse: the intercept absorbs means
    columns = np.flatnonzero(varies)
    if sp.issparse(x):
        fitted = sp.csr_matrix(x)[:, columns] @ sp.diags(1.0 / scale[columns])
    else:
        fitted = np.asarray(x, dtype=np.float64)[:, columns] / scale[columns]
    model = LogisticRegression(C=1.0 / l2, max_iter=MAX_ITER)
    with warnings.catch_warnings():
        # lbfgs stopping at MAX_ITER is still a fine set of weights to round into points
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(fitted, y)
    beta[columns] = model.coef_[0] / scale[columns]
    return float(model.intercept_[0]), beta
