"""Storage-layer exceptions; server/errors.py maps them to protocol codes."""


class StorageError(Exception):
    pass


class Unavailable(StorageError):
    """Postgres or Redis cannot be reached right now."""


class Duplicate(StorageError):
    """A unique constraint refused the write; `constraint` names which."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint
