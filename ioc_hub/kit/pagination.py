"""Offset pagination shared by every list endpoint."""

from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
# Any select, whatever its columns (SQLAlchemy 2.1 types a Select by its row's tuple).
AnySelect = Select[*tuple[Any, ...]]
SelectT = TypeVar("SelectT", bound=AnySelect)


class PageParams(BaseModel):
    limit: int
    offset: int

    def window(self, query: SelectT, *order_by: Any) -> SelectT:
        """``query`` ordered (pages need a stable order) and cut to this page."""
        return query.order_by(*order_by).limit(self.limit).offset(self.offset)


# Bounded so that no database is asked for an offset beyond its integers.
MAX_OFFSET = 2**31 - 1

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    offset: Offset = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total so clients know when to stop."""

    items: list[T]
    total: int = Field(examples=[127])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])

    @classmethod
    def of(cls, items: Sequence[T], total: int, page: PageParams) -> "Page[T]":
        return cls(items=list(items), total=total, limit=page.limit, offset=page.offset)


async def count_rows(session: AsyncSession, query: AnySelect) -> int:
    """How many rows ``query`` returns in all: a page's ``total``."""
    total: int | None = await session.scalar(select(func.count()).select_from(query.subquery()))
    return total or 0
