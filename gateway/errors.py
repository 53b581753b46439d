"""Domain errors that services raise and the API turns into clear 4xx answers."""

from __future__ import annotations


class GatewayError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(GatewayError):
    """The actor lacks the role, team or relationship this action needs."""

    status_code = 403
    code = "not_allowed"


class Conflict(GatewayError):
    """The object is not in a state where this action makes sense."""

    status_code = 409
    code = "conflict"


class DownloadRefused(Conflict):
    code = "download_refused"
