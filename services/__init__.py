"""fireroom services: rules, incidents and the HTTP API."""
