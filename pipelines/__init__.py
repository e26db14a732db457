"""Pipelines: orchestration, configuration and the joinedup command."""
