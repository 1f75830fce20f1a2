"""The gateway: acquires, decodes, timestamps and forwards. It knows nothing about incidents."""

from gateway.service import Gateway, run_gateway

__all__ = ["Gateway", "run_gateway"]
