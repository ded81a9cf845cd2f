"""The Textual app and the `turris-api` command line."""
