"""The epistemic state graph (:mod:`.epistemic`), the planner (:mod:`.planner`), graph-level catalog checks
(:mod:`.checks`) and exports for people and tools (:mod:`.export`)."""
