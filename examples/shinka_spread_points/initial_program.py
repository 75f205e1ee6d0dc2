"""Spread points: place 20 points in the unit square so that the smallest distance between any
two of them is as large as possible.

`run_experiment(seed, n)` returns an array of shape (n, 2). The evaluator calls it for several
seeds and scores the mean of the smallest pairwise distances.
"""
import numpy as np


# EVOLVE-BLOCK-START
def place_points(n, rng):
    """A jittered grid, then a few rounds of pushing each point away from its nearest neighbour."""
    side = int(np.ceil(np.sqrt(n)))
    margin = 0.08
    jitter = 0.35
    rounds = 25
    step = 0.01
    decay = 0.97
    cells = [(i, j) for i in range(side) for j in range(side)][:n]
    spacing = (1 - 2 * margin) / max(1, side - 1)
    points = np.array([(margin + i * spacing, margin + j * spacing) for i, j in cells], dtype=float)
    points += (rng.random(points.shape) - 0.5) * jitter * spacing
    points = np.clip(points, 0.0, 1.0)
    for _ in range(rounds):
        diff = points[:, None, :] - points[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1])
        np.fill_diagonal(dist, np.inf)
        nearest = np.argmin(dist, axis=1)
        away = points - points[nearest]
        length = np.maximum(np.hypot(away[:, 0], away[:, 1]), 1e-12)
        points = np.clip(points + step * away / length[:, None], 0.0, 1.0)
        step *= decay
    return points
# EVOLVE-BLOCK-END


def run_experiment(seed=0, n=20):
    return place_points(n, np.random.default_rng(seed))
