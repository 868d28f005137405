"""Clinical decision support: critical values, delta checks, early warning scores, prescription pre-audit."""

from healthbrain.cds.alerts import AlertDraft, AlertService
from healthbrain.cds.audit import AuditResult, PrescriptionKnowledge, audit_prescription
from healthbrain.cds.critical import LabEvaluation, LabResult, evaluate_lab
from healthbrain.cds.delta import DeltaFinding, PriorResult, evaluate_delta
from healthbrain.cds.ews import (
    ScoreResult,
    VitalSet,
    score_mews,
    score_news2,
    score_pews,
    score_qsofa,
    score_vitals,
)
from healthbrain.cds.findings import AllergyRecord, Finding, PatientFacts
from healthbrain.cds.kb import KNOWLEDGE_NAMES, KnowledgeBase, default_knowledge_base
from healthbrain.cds.notify import AlertHub
from healthbrain.cds.prescription import Prescription, parse_medication_request
from healthbrain.cds.service import CdsService
from healthbrain.cds.settings import CdsSettings, EscalationStep

__all__ = [
    "KNOWLEDGE_NAMES",
    "AlertDraft",
    "AlertHub",
    "AlertService",
    "AllergyRecord",
    "AuditResult",
    "CdsService",
    "CdsSettings",
    "DeltaFinding",
    "EscalationStep",
    "Finding",
    "KnowledgeBase",
    "LabEvaluation",
    "LabResult",
    "PatientFacts",
    "Prescription",
    "PrescriptionKnowledge",
    "PriorResult",
    "ScoreResult",
    "VitalSet",
    "audit_prescription",
    "default_knowledge_base",
    "evaluate_delta",
    "evaluate_lab",
    "parse_medication_request",
    "score_mews",
    "score_news2",
    "score_pews",
    "score_qsofa",
    "score_vitals",
]
