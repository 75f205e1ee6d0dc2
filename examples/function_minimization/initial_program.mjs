// Minimise a black-box 2-D function f(x, y) inside `bounds` using at most `budget` calls.
// `rng()` returns uniform numbers in [0, 1); the search must return its best point [x, y].
export function search(f, bounds, budget, rng) {
  const [[xlo, xhi], [ylo, yhi]] = bounds
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v))
  // EVOLVE-BLOCK-START
  // A deliberately naive simulated annealing with poorly chosen parameters.
  const restarts = 2
  const initialStep = 6.0
  const stepDecay = 0.9995
  const temperature = 2.0
  const cooling = 0.999
  let bestX = 0
  let bestY = 0
  let bestV = Infinity
  let evals = 0
  const perRestart = Math.floor(budget / restarts)
  for (let r = 0; r < restarts; r++) {
    let x = xlo + (xhi - xlo) * rng()
    let y = ylo + (yhi - ylo) * rng()
    let v = f(x, y)
    evals++
    let step = initialStep
    let t = temperature
    for (let i = 1; i < perRestart && evals < budget; i++) {
      const nx = clamp(x + step * (2 * rng() - 1), xlo, xhi)
      const ny = clamp(y + step * (2 * rng() - 1), ylo, yhi)
      const nv = f(nx, ny)
      evals++
      if (nv < v || rng() < Math.exp((v - nv) / t)) {
        x = nx
        y = ny
        v = nv
      }
      step *= stepDecay
      t *= cooling
    }
    if (v < bestV) {
      bestX = x
      bestY = y
      bestV = v
    }
  }
  return [bestX, bestY]
  // EVOLVE-BLOCK-END
}
