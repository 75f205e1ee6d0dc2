/**
 * The HTTP client of LLM and embedding calls: Node's own http/https with keep-alive. Part of
 * Node, it costs nothing to load, where undici (`NodeHttpClient.layerUndici`) put 730 KB of
 * JavaScript to compile on the path of every `evolve run` start.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Layer } from "effect"

export const layer = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)
