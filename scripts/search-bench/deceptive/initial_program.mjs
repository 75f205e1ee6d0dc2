// Tune a design's two parameters. `design()` returns { scale, shape }, both positive numbers;
// the evaluator scores the design (higher is better).
export function design() {
  // EVOLVE-BLOCK-START
  const scale = 1.3
  const shape = 1.6
  return { scale, shape }
  // EVOLVE-BLOCK-END
}
