"""Hydra glue: plain functions that take a composed config and run a job."""
