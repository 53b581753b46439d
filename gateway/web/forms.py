"""Forms of the web pages: they validate input only; the services decide what is allowed."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from gateway.models import Source
from gateway.selectors import policy_version_list

from .labels import KIND_LABELS, LEGAL_BASIS_LABELS, STRATEGY_LABELS


class PolicyVersionField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.policy.name} v{obj.version}"


class RequestForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    purpose = forms.CharField(label=_("Purpose"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("What the data is for, as stated to regulators."))
    legal_basis = forms.ChoiceField(label=_("Legal basis"), choices=list(LEGAL_BASIS_LABELS.items()))
    domain = forms.CharField(label=_("Domain"), max_length=120)
    language = forms.ChoiceField(label=_("Language of the data"), choices=[("zh", _("Chinese")), ("en", _("English"))])
    kind = forms.ChoiceField(label=_("Kind"), choices=list(KIND_LABELS.items()))
    strategy = forms.ChoiceField(label=_("Strategy"), choices=list(STRATEGY_LABELS.items()))
    backend = forms.ChoiceField(label=_("Backend"), choices=[("offline", _("Offline (no model, no network)")),
                                                             ("openai", _("OpenAI-compatible endpoint"))])
    size = forms.IntegerField(label=_("Number of records"), min_value=1, max_value=1_000_000, initial=50)
    task = forms.CharField(label=_("Task, subcategory mix or knowledge-tree nodes"), required=False,
                           max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    sources = forms.ModelMultipleChoiceField(label=_("Sources of your team"), required=False,
                                             queryset=Source.objects.none(),
                                             widget=forms.CheckboxSelectMultiple)
    policy_version = PolicyVersionField(label=_("Policy version"), queryset=policy_version_list())

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the team's own sources that passed screening can be chosen.
        cast(forms.ModelMultipleChoiceField, self.fields["sources"]).queryset = Source.objects.filter(
            team=team, screening=Source.Screening.PASSED)
        cast(forms.ModelChoiceField, self.fields["policy_version"]).queryset = policy_version_list()

    def service_fields(self) -> dict[str, Any]:
        """The cleaned data as ``dataset_request_create`` keywords."""
        data = self.cleaned_data
        # The request model has no legal-basis field: it is stated with the purpose, where regulators read it.
        purpose = f"{data['purpose']}\n[legal basis: {data['legal_basis']}]"
        return {
            "title": data["title"], "purpose": purpose, "domain": data["domain"], "language": data["language"],
            "kind": data["kind"], "strategy": data["strategy"], "backend": data["backend"], "size": data["size"],
            "task": data["task"], "sources": list(data["sources"]), "policy_version": data["policy_version"],
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))],
                                 widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=5000,
                             widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not data.get("reason", "").strip():
            self.add_error("reason", _("A rejection needs a reason."))
        return data


class AuditFilterForm(forms.Form):
    object_type = forms.ChoiceField(label=_("Object type"), required=False, choices=[
        ("", _("any")), ("dataset_request", _("dataset request")), ("dataset", _("dataset")),
        ("source", _("source")), ("policy", _("policy")), ("team", _("team")), ("audit_log", _("audit log")),
    ])
    object_id = forms.CharField(label=_("Dataset request / object id"), required=False, max_length=255)
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.CharField(label=_("Action"), required=False, max_length=100)
    since = forms.DateTimeField(label=_("From"), required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])
    until = forms.DateTimeField(label=_("Until"), required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])


