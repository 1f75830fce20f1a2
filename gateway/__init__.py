"""The gateway: acquires, decodes, timestamps and forwards. It knows nothing about incidents."""
