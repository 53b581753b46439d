"""Errors raised by the compliance detectors.

Every detector raises its own subclass of ``ComplianceError`` when it cannot judge a piece of
content; callers hold the content back (fail closed) and record the reason. Messages never
contain the text being judged, so a reason can be stored and audited as it is.
"""

from __future__ import annotations


class ComplianceError(Exception):
    """A compliance check could not be completed."""


class PiiDetectionError(ComplianceError):
    """PII analysis or masking failed; the content must not be stored or released."""


class SafetyFilterError(ComplianceError):
    """The content-safety filter could not judge the text."""


class GateError(ComplianceError):
    """A quality gate was called with an invalid configuration."""
