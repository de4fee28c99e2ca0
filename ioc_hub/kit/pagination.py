"""Offset pagination shared by every list endpoint."""

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total so clients know when to stop."""

    items: list[T]
    total: int = Field(examples=[127])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])
