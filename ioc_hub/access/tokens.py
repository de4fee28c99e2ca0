"""Token minting and hashing. Tokens carry 256 random bits, so one SHA-256 is a safe hash:
there is nothing to brute-force that a slow hash would protect."""

import hashlib
import secrets

TOKEN_PREFIX = "ioch_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """The first characters, enough for an operator to tell keys apart in a list."""
    return token[: len(TOKEN_PREFIX) + 6]
