"""evolve's stand-in for the `shinka` package (ShinkaEvolve), used only when shinka is not
installed: it provides what Shinka evaluators import (`shinka.core.run_shinka_eval`,
`shinka.llm.LLMClient`, `shinka.utils.wolfram`)."""
