// Place 6 points in the unit square so that the smallest distance between two of them is as
// large as possible. `points()` returns the points as [x, y] pairs with 0 ≤ x, y ≤ 1.
export function points() {
  // EVOLVE-BLOCK-START
  // A cramped first guess, roughly two rows of three.
  const p1 = [0.31, 0.22]
  const p2 = [0.52, 0.28]
  const p3 = [0.74, 0.19]
  const p4 = [0.27, 0.58]
  const p5 = [0.55, 0.63]
  const p6 = [0.81, 0.52]
  return [p1, p2, p3, p4, p5, p6]
  // EVOLVE-BLOCK-END
}
