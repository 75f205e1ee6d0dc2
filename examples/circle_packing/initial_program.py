"""Circle packing: place 26 circles in the unit square so that the sum of their radii is as
large as possible (the best published packings reach about 2.635).

`run_packing()` returns (centres, radii, sum_of_radii) with centres of shape (26, 2) and radii of
shape (26,). The evaluator re-checks everything strictly: every circle inside the square and
no two overlapping, to within 1e-12.

The layout (where the centres go) is what evolves; given centres, `best_radii` solves a small
linear program for the largest radii that fit, then `make_feasible` shrinks them by a hair so
that floating-point rounding can never produce an overlap.
"""
import numpy as np
from scipy.optimize import linprog

N = 26


# EVOLVE-BLOCK-START
def layout():
    """Centres of the circles: staggered rows, each (count, y, x_first, x_last)."""
    rows = [
        (5, 0.11, 0.11, 0.89),
        (5, 0.30, 0.20, 0.80),
        (6, 0.50, 0.09, 0.91),
        (5, 0.70, 0.20, 0.80),
        (5, 0.89, 0.11, 0.89),
    ]
    centres = []
    for count, y, x_first, x_last in rows:
        for k in range(max(1, count)):
            t = k / (count - 1) if count > 1 else 0.5
            centres.append((x_first + t * (x_last - x_first), y))
    return centres
# EVOLVE-BLOCK-END


def complete(points, n=N):
    """Exactly n centres inside the square: extra ones dropped, missing ones added where there is room."""
    pts = [(min(1.0, max(0.0, float(x))), min(1.0, max(0.0, float(y)))) for x, y in points][:n]
    grid = [(i / 40, j / 40) for i in range(1, 40) for j in range(1, 40)]
    while len(pts) < n:
        def room(p):
            wall = min(p[0], 1 - p[0], p[1], 1 - p[1])
            return min([wall] + [np.hypot(p[0] - q[0], p[1] - q[1]) for q in pts])
        pts.append(max(grid, key=room))
    return np.array(pts, dtype=float)


def best_radii(centres):
    """The largest total radius for fixed centres: r_i <= distance to each wall, r_i + r_j <= d_ij."""
    n = len(centres)
    rows, bounds = [], []
    for i in range(n):
        for j in range(i + 1, n):
            row = np.zeros(n)
            row[i] = row[j] = 1.0
            rows.append(row)
            bounds.append(np.hypot(*(centres[i] - centres[j])))
    wall = np.minimum.reduce([centres[:, 0], 1 - centres[:, 0], centres[:, 1], 1 - centres[:, 1]])
    result = linprog(-np.ones(n), A_ub=np.array(rows), b_ub=np.array(bounds),
                     bounds=[(0.0, max(0.0, w)) for w in wall], method="highs")
    return result.x if result.success else np.zeros(n)


def make_feasible(centres, radii):
    """Shrinks radii until every constraint holds exactly in floating point."""
    r = np.clip(np.asarray(radii, dtype=float), 0.0, None)
    x, y = centres[:, 0], centres[:, 1]
    r = np.minimum.reduce([r, x, 1 - x, y, 1 - y]) * (1 - 1e-10)
    for _ in range(100):
        changed = False
        for i in range(len(r)):
            for j in range(i + 1, len(r)):
                d = np.hypot(x[i] - x[j], y[i] - y[j])
                if r[i] + r[j] > d:
                    scale = d / (r[i] + r[j]) * (1 - 1e-10)
                    r[i] *= scale
                    r[j] *= scale
                    changed = True
        if not changed:
            break
    return np.maximum(r, 0.0)


def run_packing():
    centres = complete(layout())
    radii = make_feasible(centres, best_radii(centres))
    return centres, radii, float(np.sum(radii))


if __name__ == "__main__":
    c, r, s = run_packing()
    print(f"sum of radii: {s:.6f}")
