"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""


class ChurnError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ConfigError(ChurnError):
    """The config file is missing, malformed or has an invalid value."""


class DataContractError(ChurnError):
    """The dataset breaks the data contract; `problems` lists every failure found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        count = len(problems)
        head = f"{count} data problem{'s' if count > 1 else ''}: "
        super().__init__(head + " | ".join(problems))
