"""The credential service: token endpoint, protected endpoints and the management API."""
