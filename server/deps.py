"""Dependencies the routers share: the instance's Service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from turris_api.server.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
