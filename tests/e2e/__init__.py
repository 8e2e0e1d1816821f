"""Slow end-to-end and model tests: training, registry, jobs, Spark, the report, notebooks."""
