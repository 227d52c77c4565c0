"""multi-agent-coder: BACKLOG.yaml + specs/ in, one verified pull request per task out."""

__version__ = "0.1.0"
