"""Errors a user can act on. The CLI prints their message as one line and exits with the
error's `exit_code`, so a scheduler can tell what kind of failure a night had:

| code | meaning |
|---|---|
| 0 | success |
| 1 | any other failure a user can fix (a missing model, a Spark error, ...) |
| 2 | usage: a bad option or a bad config |
| 3 | bad data: the dataset breaks the data contract |
| 4 | feed or freshness: a mapped signal stopped or fell, or events end before `--as-of` |
| 5 | drift: the population jumped beyond the fail level since the previous scored night |
|   | (drift against the model's reference only warns and recommends retraining) |
| 6 | retrain recommended: the job finished, but the model no longer fits the data |
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BAD_DATA = 3
EXIT_FEED = 4
EXIT_DRIFT = 5
EXIT_RETRAIN = 6


class ChurnError(Exception):
    """Base class: the message says what is wrong and what to do."""

    exit_code = EXIT_FAILURE


class ConfigError(ChurnError):
    """The config file is missing, malformed or has an invalid value."""

    exit_code = EXIT_USAGE


class DataContractError(ChurnError):
    """The dataset breaks the data contract; `problems` lists every failure found."""

    exit_code = EXIT_BAD_DATA

    def __init__(self, problems: list[str]):
        self.problems = problems
        count = len(problems)
        head = f"{count} data problem{'s' if count > 1 else ''}: "
        super().__init__(head + " | ".join(problems))


class FeedError(ChurnError):
    """A feed is late or broken: events end too early, or a mapped signal stopped or fell."""

    exit_code = EXIT_FEED


class DriftError(ChurnError):
    """Today's population differs from the model's reference beyond the fail level."""

    exit_code = EXIT_DRIFT


class RetrainRecommended(ChurnError):
    """The job's outputs are written, but the model no longer fits the data: retrain."""

    exit_code = EXIT_RETRAIN
