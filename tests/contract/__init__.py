"""Data-contract tests: validation, importers, the contract, the synthetic world, snapshots."""
