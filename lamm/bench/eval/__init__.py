"""The benchmark runner behind ``lamm eval``: prompts, adapters, sharding, the answer log."""
