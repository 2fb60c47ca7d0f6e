"""Kraken for Ansible: a continuous, declarative reconciler for fleets of machines, built on Ansible."""

__all__ = ["__version__"]

__version__ = "0.1.0"
