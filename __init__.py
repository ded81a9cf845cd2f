"""Turris API Settings: the terminal app, its command line and the credential service.

The repository root is this package: installed, `app/`, `screens/`, `widgets/`, `store/` and
`server/` are `turris_api.app`, `turris_api.screens`, and so on.
"""
