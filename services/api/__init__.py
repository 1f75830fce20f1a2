"""The HTTP API: incidents for operators and consoles."""

from services.api.app import create_app
from services.api.server import serve_api

__all__ = ["create_app", "serve_api"]
