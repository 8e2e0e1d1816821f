"""The jobs wired end to end (train, score, report, backtest) and the `churn` CLI."""
