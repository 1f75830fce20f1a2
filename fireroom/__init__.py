"""fireroom: a fire control room service.

Shared core: config models, domain types, MQTT topics and payload codec, clock, command line.
"""

__version__ = "0.1.0"
