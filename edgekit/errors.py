"""User-facing errors. The CLI prints them as one line and exits with their code; bugs stay tracebacks."""


class EdgekitError(Exception):
    """A problem with the user's input or environment, with the fix to try."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem


class BudgetFailed(EdgekitError):
    """A result was produced but misses a budget the user asked for (exit 1, so CI can gate on it)."""

    exit_code = 1
