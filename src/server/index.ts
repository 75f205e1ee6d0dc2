/**
 * `import { Server, ServerApi } from "llm-evolve/server"`: the HTTP service (API, SSE, metrics, web
 * UI) as layers. A subpath of its own so that `import "llm-evolve"` does not load the HTTP stack.
 */
export * as ServerApi from "./Api.js"
export * as Server from "./Server.js"
