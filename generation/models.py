"""What the generation room keeps: knowledge trees, model prices and the response cache.

Fields and constraints only; writes go through ``generation.services``. The response cache holds
model output encrypted (AES-GCM, key derived from ``PII_HMAC_KEY``) because raw model output may
contain personal data: the database never holds it in the clear, and entries are purged when the
job that paid for them has finished.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class KnowledgeTree(models.Model):
    """A world-knowledge tree (Condor): domain → topic → subtopic tags that seed diverse questions."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class KnowledgeNode(models.Model):
    class Level(models.TextChoices):
        DOMAIN = "domain", "Domain"
        TOPIC = "topic", "Topic"
        SUBTOPIC = "subtopic", "Subtopic"

    tree = models.ForeignKey(KnowledgeTree, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    level = models.CharField(max_length=10, choices=Level.choices)
    key = models.SlugField(max_length=80, help_text="Stable key, unique in its tree; requests name nodes by it.")
    name_zh = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True)
    weight = models.PositiveIntegerField(default=1, help_text="Relative sampling weight among its siblings.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["tree", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["tree", "key"], name="knowledge_node_key_unique")]

    def __str__(self) -> str:
        return f"{self.tree.slug}:{self.key}"

    def name(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name_zh


class ModelPrice(models.Model):
    """What one model costs per 1,000 tokens; wins over ``GENERATION_MODEL_PRICES`` in settings."""

    model = models.CharField(max_length=200, unique=True)
    prompt_per_1k = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    completion_per_1k = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=8, default="CNY")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model}: {self.prompt_per_1k}/{self.completion_per_1k} {self.currency} per 1k tokens"


class CachedResponse(models.Model):
    """One paid model answer, keyed by the SHA-256 of the full call (model, messages, parameters, seed)."""

    key = models.CharField(max_length=64, unique=True)
    request_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    slot_index = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200)
    ciphertext = models.BinaryField(help_text="AES-GCM(nonce ‖ ciphertext) of the completion; never plaintext.")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["request_id", "slot_index"])]

    def __str__(self) -> str:
        return f"cached response {self.key[:12]} (request {self.request_id}, slot {self.slot_index})"
