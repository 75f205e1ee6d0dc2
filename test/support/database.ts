/** Every store of the program database as one object, for tests that inspect a database broadly. */
import { Effect } from "effect"
import { CandidateStore } from "../../src/db/CandidateStore.js"
import { EventStore } from "../../src/db/EventStore.js"
import { LeaseStore } from "../../src/db/LeaseStore.js"
import { LlmCallStore } from "../../src/db/LlmCallStore.js"
import { RunQueries } from "../../src/db/RunQueries.js"
import { RunStore } from "../../src/db/RunStore.js"
import { SearchStore } from "../../src/db/SearchStore.js"

export const allStores = Effect.all([RunStore, CandidateStore, SearchStore, LlmCallStore, EventStore, LeaseStore, RunQueries]).pipe(
  Effect.map(([runs, candidates, search, llmCalls, events, leases, queries]) => ({
    ...runs,
    ...candidates,
    ...search,
    ...llmCalls,
    ...events,
    ...leases,
    ...queries
  }))
)
