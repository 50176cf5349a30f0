"""L2-regularised logistic regression fitted by Newton's method, hand-written in numpy.

Written for memory at a million leads: no standardised copy of the feature matrix (the penalty
is scaled instead), the loss, gradient and Hessian summed over blocks of CHUNK_ROWS rows, and
the Hessian's product in single precision.
"""

from __future__ import annotations

import math

import numpy as np

# Rows per block when the fit walks the feature matrix: bounds the temporary copies at scale.
CHUNK_ROWS = 65_536


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    standardise: np.ndarray | None = None,
    max_iter: int = 50,
) -> tuple[float, np.ndarray]:
    """Return (intercept, weights per column of x) of an L2-regularised logistic regression.

    The penalty is l2/2 x the sum of squared weights, of the standardised column where
    standardise (a mask; default all) says so and of the raw column elsewhere; the intercept is not
    penalised. Weights come back in x's own units. Columns that do not vary get 0; a single class
    gets its smoothed log-odds as intercept and no weights.
    """
    y = np.asarray(y, dtype=np.float64)
    n, k = x.shape
    beta = np.zeros(k)
    positives = float(y.sum())
    if positives == 0 or positives == n:
        return math.log((positives + 0.5) / (n - positives + 0.5)), beta
    mean = x.mean(axis=0, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.einsum("ij,ij->j", x, x, dtype=np.float64) / n - mean**2, 0.0))
    varies = sd > 1e-9 * np.maximum(1.0, np.abs(mean))
    # Penalising sd_j^2 * beta_j^2 on raw columns is the same problem as penalising standardised
    # weights, and Newton's method takes the same steps either way, so no standardised copy of
    # x is needed: at a million leads that copy would be the largest thing in memory. Columns
    # that do not vary stay at 0 by being left out of each step, again without a copy.
    scale = sd if standardise is None else np.where(standardise, sd, 1.0)
    penalty = np.concatenate([[0.0], l2 * scale**2])
    active = np.concatenate([[True], varies])
    theta = np.zeros(1 + k)
    theta[0] = math.log(positives / (n - positives))
    loss = _penalised_loss(x, y, theta, penalty)
    for _ in range(max_iter):
        gradient, hessian = _gradient_hessian(x, y, theta)
        gradient += penalty * theta
        hessian[np.diag_indices_from(hessian)] += penalty
        step = np.zeros(1 + k)
        step[active] = np.linalg.lstsq(
            hessian[np.ix_(active, active)], gradient[active], rcond=None
        )[0]
        # halve the step until the loss does not rise: Newton can overshoot far from the optimum
        for _ in range(30):
            candidate = theta - step
            new_loss = _penalised_loss(x, y, candidate, penalty)
            if new_loss <= loss + 1e-12 * abs(loss):
                break
            step /= 2
        else:
            break
        theta, converged = candidate, loss - new_loss < 1e-9 * max(1.0, abs(loss))
        loss = new_loss
        if converged:
            break
    beta[:] = theta[1:]
    return float(theta[0]), beta


def _penalised_loss(x: np.ndarray, y: np.ndarray, theta: np.ndarray, penalty: np.ndarray) -> float:
    """Return the negative log-likelihood of theta (intercept, weights) plus its L2 penalty."""
    total = 0.0
    for start in range(0, len(y), CHUNK_ROWS):
        eta = theta[0] + x[start : start + CHUNK_ROWS] @ theta[1:]
        total += float(np.sum(np.logaddexp(0.0, eta) - y[start : start + CHUNK_ROWS] * eta))
    return total + 0.5 * float(np.sum(penalty * theta * theta))


def _gradient_hessian(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the negative log-likelihood's gradient and Hessian in (intercept, weights)."""
    k = len(theta)
    gradient = np.zeros(k)
    hessian = np.zeros((k, k))
    for start in range(0, len(y), CHUNK_ROWS):
        block = x[start : start + CHUNK_ROWS]
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[0] + block @ theta[1:])))  # logistic, stable
        residual = p - y[start : start + CHUNK_ROWS]
        w = p * (1.0 - p)
        gradient[0] += residual.sum()
        gradient[1:] += block.T @ residual
        # The Hessian's product is the fit's largest cost; in single precision it takes half
        # the time, and it only steers the steps: the gradient and the loss that judge them
        # stay in double precision.
        single = block.astype(np.float32, copy=False)
        weighted = single * w.astype(np.float32)[:, None]
        column_sums = weighted.sum(axis=0, dtype=np.float64)
        hessian[0, 0] += w.sum()
        hessian[0, 1:] += column_sums
        hessian[1:, 0] += column_sums
        hessian[1:, 1:] += single.T @ weighted
    return gradient, hessian
