"""Shipped scenarios (YAML); a package only so that wheels carry the files."""
