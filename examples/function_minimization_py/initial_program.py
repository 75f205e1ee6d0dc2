# Minimise a black-box 2-D function f(x, y) inside `bounds` using at most `budget` calls.
# `rng()` returns uniform numbers in [0, 1); the search must return its best point (x, y).
import math


def search(f, bounds, budget, rng):
    (xlo, xhi), (ylo, yhi) = bounds

    def clamp(v, lo, hi):
        return min(hi, max(lo, v))

    # EVOLVE-BLOCK-START
    # A deliberately naive simulated annealing with poorly chosen parameters.
    restarts = 2
    initial_step = 6.0
    step_decay = 0.9995
    temperature = 2.0
    cooling = 0.999
    best_x, best_y, best_v = 0.0, 0.0, math.inf
    evals = 0
    per_restart = budget // restarts
    for _ in range(restarts):
        x = xlo + (xhi - xlo) * rng()
        y = ylo + (yhi - ylo) * rng()
        v = f(x, y)
        evals += 1
        step = initial_step
        t = temperature
        for _ in range(1, per_restart):
            if evals >= budget:
                break
            nx = clamp(x + step * (2 * rng() - 1), xlo, xhi)
            ny = clamp(y + step * (2 * rng() - 1), ylo, yhi)
            nv = f(nx, ny)
            evals += 1
            if nv < v or rng() < math.exp((v - nv) / t):
                x, y, v = nx, ny, nv
            step *= step_decay
            t = max(t * cooling, 1e-12)
        if v < best_v:
            best_x, best_y, best_v = x, y, v
    return best_x, best_y
    # EVOLVE-BLOCK-END
