"""Teams, sources, dataset requests and what a request produces.

Fields, constraints and states only; every write goes through ``gateway.services``.
Nothing here holds raw PII: records and sources keep masked text, findings and hashes.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from compliance.models import PolicyVersion

from .states import RequestState


class Role(models.TextChoices):
    REQUESTER = "requester", "Requester"
    APPROVER = "approver", "Approver"
    AUDITOR = "auditor", "Auditor"
    POLICY_ADMIN = "policy_admin", "Policy admin"


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A user works for exactly one team; roles are Django groups."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.team}"


class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    PUBLIC = "public", "Publicly available"
    NONE = "none", "None"


class Source(models.Model):
    """A document or example set a request draws on. Only its masked text is kept."""

    class Kind(models.TextChoices):
        DOCUMENT = "document", "Document"
        EXAMPLES = "examples", "Example set"

    class Screening(models.TextChoices):
        PASSED = "passed", "Passed"
        HELD = "held", "Held back"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXAMPLES)
    licence = models.CharField(max_length=120, help_text="e.g. CC-BY-4.0, internal, contract #")
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices)
    origin = models.CharField(max_length=300, help_text="Where the material came from.")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the content as submitted.")
    masked_content = models.TextField(blank=True, help_text="The content after PII masking (empty if held back).")
    pii_counts = models.JSONField(default=dict, blank=True)
    screening = models.CharField(max_length=10, choices=Screening.choices)
    screening_reason = models.TextField(blank=True)
    screened_at = models.DateTimeField()
    harmful_rate = models.FloatField(null=True, blank=True, help_text="Share of the source flagged as harmful.")
    safety_summary = models.JSONField(default=dict, blank=True)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class RequestKind(models.TextChoices):
    DIALOGUE = "dialogue", "Multi-turn dialogue"
    QA = "qa", "Instruction / response"
    MATH = "math", "Maths problem with worked solution"


class DatasetRequest(models.Model):
    class Strategy(models.TextChoices):
        PROMPT_TEMPLATE = "prompt_template", "Prompt template"
        MULTI_STEP = "multi_step", "Multi-step (theme → subcategories → items)"
        KNOWLEDGE_TREE = "knowledge_tree", "Knowledge tree (Condor Void + Refine)"

    class Backend(models.TextChoices):
        OFFLINE = "offline", "Offline (no model, no network)"
        OPENAI = "openai", "OpenAI-compatible endpoint"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    purpose = models.TextField(help_text="What the data is for: stated to regulators (Interim Measures Art. 19).")
    domain = models.CharField(max_length=120)
    language = models.CharField(max_length=8, choices=[("zh", "Chinese"), ("en", "English")], default="zh")
    kind = models.CharField(max_length=20, choices=RequestKind.choices, default=RequestKind.DIALOGUE)
    strategy = models.CharField(max_length=40, choices=Strategy.choices, default=Strategy.PROMPT_TEMPLATE)
    backend = models.CharField(max_length=20, choices=Backend.choices, default=Backend.OFFLINE)
    size = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(1_000_000)])
    task = models.TextField(blank=True, help_text="Task description given to the generator.")
    seed = models.PositiveIntegerField(default=0)
    options = models.JSONField(
        default=dict, blank=True,
        help_text="Strategy options: conditions, subcategory mix, knowledge-tree nodes, task types, difficulty.",
    )
    budget_limit = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Stop the job at this cost (currency units)."
    )
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="requests")
    sources = models.ManyToManyField(Source, blank=True, related_name="requests")
    state = models.CharField(max_length=24, choices=RequestState.choices, default=RequestState.DRAFT)
    state_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "state"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class GenerationJob(models.Model):
    request = models.OneToOneField(DatasetRequest, on_delete=models.CASCADE, related_name="job")
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    calls = models.PositiveBigIntegerField(default=0)
    retries = models.PositiveBigIntegerField(default=0)
    cache_hits = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    chunk_size = models.PositiveIntegerField()
    backend = models.CharField(max_length=20)
    model = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When every chunk was queued; empty while a start is unfinished.")
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"job for request #{self.request_id}: {self.done}/{self.total}"

    def progress(self) -> dict[str, object]:
        return {
            "done": self.done,
            "total": self.total,
            "failed": self.failed,
            "held": self.held,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "fraction": round(self.done / self.total, 4) if self.total else 0.0,
        }


class Record(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        HELD = "held", "Held back"
        FAILED = "failed", "Generation failed"

    request = models.ForeignKey(DatasetRequest, on_delete=models.CASCADE, related_name="records")
    slot_index = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.TextField(blank=True)
    kind = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=200, blank=True, help_text="Subcategory or knowledge-tree node.")
    content = models.JSONField(null=True, blank=True, help_text="Masked content only.")
    text = models.TextField(blank=True, help_text="Masked flattened text.")
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the masked text.")
    pii_findings = models.JSONField(default=list, blank=True)
    pii_counts = models.JSONField(default=dict, blank=True)
    safety = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "slot_index"]
        constraints = [
            # One record per slot: a redelivered chunk can never duplicate a record.
            models.UniqueConstraint(fields=["request", "slot_index"], name="record_slot_unique"),
        ]

    def __str__(self) -> str:
        return f"request #{self.request_id} slot {self.slot_index} ({self.status})"


class QualityReport(models.Model):
    request = models.OneToOneField(DatasetRequest, on_delete=models.CASCADE, related_name="quality_report")
    passed = models.BooleanField()
    gates = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"quality report for request #{self.request_id}: {'passed' if self.passed else 'failed'}"


class Approval(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    request = models.ForeignKey(DatasetRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.decision} of request #{self.request_id} by {self.approver_id}"


class Dataset(models.Model):
    """The immutable released snapshot of a request's accepted records."""

    class Status(models.TextChoices):
        RELEASED = "released", "Released"
        REVOKED = "revoked", "Revoked"

    request = models.OneToOneField(DatasetRequest, on_delete=models.PROTECT, related_name="dataset")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="datasets")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RELEASED)
    file_path = models.CharField(max_length=500)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the JSONL file.")
    record_count = models.PositiveIntegerField()
    manifest = models.JSONField()
    merkle_root = models.CharField(max_length=64, blank=True, help_text="RFC 6962 root over the released records.")
    card = models.TextField(blank=True, help_text="Dataset card (Markdown).")
    extra = models.JSONField(default=dict, blank=True)
    released_at = models.DateTimeField()
    revoked_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-released_at"]

    def __str__(self) -> str:
        return f"dataset {self.pk} (request #{self.request_id})"


class BenchmarkSet(models.Model):
    """An evaluation set (C-Eval, CMMLU, GSM8K, a CLUE task, ...) that generated data must not overlap.

    Uploaded once by an admin; its n-gram hashes are indexed into ``index_path`` (a numpy file) so the
    decontamination gate never rereads the benchmark itself.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    source_file = models.FileField(upload_to="benchmarks/", help_text="JSONL (one item per line) or plain text.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded file.")
    item_count = models.PositiveIntegerField(default=0)
    ngram_count = models.PositiveIntegerField(default=0)
    index_path = models.CharField(max_length=500, help_text="Sorted uint64 n-gram hashes (numpy .npy).")
    active = models.BooleanField(default=True, help_text="Inactive sets are not checked.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.item_count} items)"


class ReviewItem(models.Model):
    """One record in an approver's item-by-item review sample, with the reviewer's verdict."""

    class Verdict(models.TextChoices):
        PENDING = "pending", "Not reviewed yet"
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"

    request = models.ForeignKey(DatasetRequest, on_delete=models.CASCADE, related_name="review_items")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="review_items")
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.PENDING)
    note = models.TextField(blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "record__slot_index"]
        constraints = [models.UniqueConstraint(fields=["request", "record"], name="review_item_unique")]

    def __str__(self) -> str:
        return f"review of record {self.record_id} for request #{self.request_id}: {self.verdict}"
