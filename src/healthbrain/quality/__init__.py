"""Data quality (数据质量): rules as data over every record, quarantine of what fails hard rules, daily
scores per institution, and results mutual recognition (检查检验结果互认) between institutions."""

from healthbrain.quality.catalog import RuleSet, compile_rules, default_rules, load_rules
from healthbrain.quality.evaluate import evaluate_record, patient_facts
from healthbrain.quality.holding import HeldEntry, HoldPlan, plan_holds
from healthbrain.quality.idcard import IdCardCheck, check_id_card
from healthbrain.quality.model import (
    DIMENSIONS,
    HARD,
    SOFT,
    DayCounts,
    Evaluation,
    Finding,
    PatientFacts,
    QualityScore,
    RecordContext,
)
from healthbrain.quality.monitor import QualityMonitor
from healthbrain.quality.quarantine import FEED_SOURCE_PREFIX, QuarantineScreen, Screening, feed_of
from healthbrain.quality.recognition import (
    Order,
    PriorResult,
    Recognised,
    RecognitionCatalog,
    default_recognition,
    find_reusable,
    load_recognition,
    order_of,
    result_of,
)
from healthbrain.quality.recognition_out import reuse_card, reuse_issue
from healthbrain.quality.recognition_service import RecognitionService, ResidentRefs
from healthbrain.quality.review import QuarantineDesk, ReleaseOutcome
from healthbrain.quality.scores import ScoreBoard
from healthbrain.quality.scoring import components, score_day
from healthbrain.quality.screening import EntryVerdict, evaluate_entries, institution_of
from healthbrain.quality.store import QualityStore, QuarantineRow
from healthbrain.quality.uniqueness import UniquenessIndex, identity_keys

__all__ = [
    "DIMENSIONS",
    "FEED_SOURCE_PREFIX",
    "HARD",
    "SOFT",
    "DayCounts",
    "EntryVerdict",
    "Evaluation",
    "Finding",
    "HeldEntry",
    "HoldPlan",
    "IdCardCheck",
    "Order",
    "PatientFacts",
    "PriorResult",
    "QualityMonitor",
    "QualityScore",
    "QualityStore",
    "QuarantineDesk",
    "QuarantineRow",
    "QuarantineScreen",
    "Recognised",
    "RecognitionCatalog",
    "RecognitionService",
    "RecordContext",
    "ReleaseOutcome",
    "ResidentRefs",
    "RuleSet",
    "ScoreBoard",
    "Screening",
    "UniquenessIndex",
    "check_id_card",
    "compile_rules",
    "components",
    "default_recognition",
    "default_rules",
    "evaluate_entries",
    "evaluate_record",
    "feed_of",
    "find_reusable",
    "identity_keys",
    "institution_of",
    "load_recognition",
    "load_rules",
    "order_of",
    "patient_facts",
    "plan_holds",
    "result_of",
    "reuse_card",
    "reuse_issue",
    "score_day",
]
