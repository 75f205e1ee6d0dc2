"""The worker's settings (JSON in argv[1], from evolve) and its private protocol fd."""
import json
import os
import sys

# The protocol gets a private copy of stdout; fd 1 then points at stderr, so nothing the
# evaluator prints (even from C code) can corrupt the protocol.
PROTO = os.dup(1)
os.dup2(2, 1)
CONFIG = json.loads(sys.argv[1])
CONTRACT = CONFIG["contract"]
# The command contract started warm (evolve_worker_script): the child reports no result.
COMMAND = CONTRACT == "command"
# The environment this interpreter started with (what a launcher such as a pyenv shim added
# included), without the pool's marker: a command script's environment when started cold.
SCRIPT_ENV = {k: v for k, v in os.environ.items() if k != "EVOLVE_POOL_WORKER"}
PATH = CONFIG["evaluator_path"]
PRIMARY = CONFIG.get("primary_metric") or "score"
OUTPUT_CAP = int(CONFIG.get("output_cap_bytes") or (1 << 20))
RESULT_CAP = max(4 * OUTPUT_CAP, 16 << 20)
TAIL = 8192
ARTIFACT_CHARS = 8192
ARTIFACTS = 32
STDIN = 0
# Every file of the worker lives here: their frames are left out of evaluator tracebacks.
WORKER_DIR = os.path.dirname(os.path.abspath(__file__))


def working_dir(job):
    """The evaluation's working directory: the evaluator's (as OpenEvolve runs it), or the candidate's temp dir."""
    return job["dir"] if CONFIG.get("working_dir") == "candidate" else CONFIG["cwd"]
