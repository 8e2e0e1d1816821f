"""`python -m pipelines` or `spark-submit pipelines/__main__.py`: the `churn` command."""

from pipelines.cli import app

if __name__ == "__main__":
    app(prog_name="churn")
