from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ioc_hub.kit.params import CODE_PATTERN, TEXT_PATTERN
from ioc_hub.models import Scope


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"unit": "25741", "scopes": ["observations:write"], "name": "Phường Hiệp Thành"}
            ]
        },
    )

    unit: str = Field(
        min_length=1,
        max_length=32,
        pattern=CODE_PATTERN,
        description="Code of the unit the key acts for",
    )
    scopes: list[Scope] = Field(min_length=1, description="What the key may do")
    name: str = Field(
        default="", max_length=200, pattern=TEXT_PATTERN, description="A label for operators"
    )


class KeyOut(BaseModel):
    """A key as listed: never its token."""

    id: int = Field(examples=[12])
    unit: str = Field(examples=["25741"])
    name: str = Field(examples=["Phường Hiệp Thành"])
    prefix: str = Field(examples=["ioch_Xk3v9Q"], description="First characters of the token")
    scopes: list[Scope] = Field(examples=[["observations:write"]])
    created_at: datetime
    revoked_at: datetime | None = None


class KeyCreated(KeyOut):
    """The one response that carries the token; it is not stored and cannot be shown again."""

    token: str = Field(examples=["ioch_Xk3v9Q8…"])
