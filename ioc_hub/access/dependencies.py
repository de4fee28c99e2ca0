"""FastAPI dependencies that authenticate the caller and check a scope."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ioc_hub.access import service
from ioc_hub.access.principal import Principal
from ioc_hub.deps import SessionDep
from ioc_hub.errors import problem_doc
from ioc_hub.models import Scope

AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: problem_doc("No key, or an unknown or revoked key"),
    403: problem_doc("Key lacks the scope or the unit is outside its area"),
}
"""What every route behind a key may answer before its own work: routers declare it once."""

bearer = HTTPBearer(
    auto_error=False, description="An access key minted by `ioc-hub keys create` or POST /keys"
)


async def current_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await service.authenticate(session, credentials.credentials if credentials else None)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def scoped(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller's key carries ``scope``."""

    async def dependency(principal: PrincipalDep) -> Principal:
        service.require_scope(principal, scope)
        return principal

    return dependency


RegistryWriter = Annotated[Principal, Depends(scoped(Scope.REGISTRY_WRITE))]
KeysAdmin = Annotated[Principal, Depends(scoped(Scope.KEYS_ADMIN))]
AlertsAdmin = Annotated[Principal, Depends(scoped(Scope.ALERTS_ADMIN))]
