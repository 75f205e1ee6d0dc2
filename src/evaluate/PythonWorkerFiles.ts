/**
 * The files of evolve's warm Python worker (src/evaluate/embedded/evolve_worker*.py, documented
 * in evolve_worker.py), embedded at build time so that bundling or packaging can never lose them:
 * the pool writes them to a temp dir when it starts and runs `pythonWorkerEntry`.
 */
import main from "./embedded/evolve_worker.py.generated.js"
import child from "./embedded/evolve_worker_child.py.generated.js"
import contracts from "./embedded/evolve_worker_contracts.py.generated.js"
import files from "./embedded/evolve_worker_files.py.generated.js"
import processes from "./embedded/evolve_worker_processes.py.generated.js"
import script from "./embedded/evolve_worker_script.py.generated.js"
import settings from "./embedded/evolve_worker_settings.py.generated.js"

export const pythonWorkerEntry = "evolve_worker.py"

/** File name → text. */
export const pythonWorkerFiles: ReadonlyArray<readonly [string, string]> = [
  [pythonWorkerEntry, main],
  ["evolve_worker_settings.py", settings],
  ["evolve_worker_processes.py", processes],
  ["evolve_worker_contracts.py", contracts],
  ["evolve_worker_files.py", files],
  ["evolve_worker_child.py", child],
  ["evolve_worker_script.py", script]
]
