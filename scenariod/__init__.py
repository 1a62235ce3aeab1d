"""scenariod: a declarative, scenario-driven mock server for the Proxmox REST APIs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
