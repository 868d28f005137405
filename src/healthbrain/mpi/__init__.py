"""The patient index (EMPI, 主索引): Fellegi-Sunter matching of Chinese identity data, residents and links."""

from healthbrain.mpi.blocking import BlockingRule, Pairs, block_on, block_pairs
from healthbrain.mpi.chinese import chinese_comparisons, chinese_settings
from healthbrain.mpi.comparisons import Comparison, date_levels, exact_match, nested_levels, string_levels
from healthbrain.mpi.evaluation import Accuracy, pairwise_accuracy
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.frame import RecordFrame, make_frame
from healthbrain.mpi.index import Candidate, LinkOutcome, PatientIndex
from healthbrain.mpi.match_op import MatchRequest, match, match_bundle, parse_match_request
from healthbrain.mpi.model import FieldParams, MatchModel
from healthbrain.mpi.pipeline import LinkResult, LinkSettings, link_records
from healthbrain.mpi.records import PatientRecord, patient_record
from healthbrain.mpi.relink import RelinkSummary, relink
from healthbrain.mpi.reseal import ResealSummary, reseal
from healthbrain.mpi.review import decide_review, link_manually, unlink
from healthbrain.mpi.scoring import ScoredPairs, score_pairs
from healthbrain.mpi.sealing import KeyRingSealer, PlainSealer, SealedWithoutKeys, Sealer
from healthbrain.mpi.service import default_model, open_index, register_subscriber, sealer_for
from healthbrain.mpi.training import TrainingSettings, train_model

__all__ = [
    "Accuracy",
    "BlockingRule",
    "Candidate",
    "Comparison",
    "FieldParams",
    "KeyRingSealer",
    "LinkOutcome",
    "LinkResult",
    "LinkSettings",
    "MatchModel",
    "MatchRequest",
    "Pairs",
    "PatientIndex",
    "PatientRecord",
    "PlainSealer",
    "RecordFrame",
    "RelinkSummary",
    "ResealSummary",
    "ScoredPairs",
    "SealedWithoutKeys",
    "Sealer",
    "TrainingSettings",
    "block_on",
    "block_pairs",
    "chinese_comparisons",
    "chinese_frame",
    "chinese_settings",
    "date_levels",
    "decide_review",
    "default_model",
    "exact_match",
    "link_manually",
    "link_records",
    "make_frame",
    "match",
    "match_bundle",
    "nested_levels",
    "open_index",
    "pairwise_accuracy",
    "parse_match_request",
    "patient_record",
    "register_subscriber",
    "relink",
    "reseal",
    "score_pairs",
    "sealer_for",
    "string_levels",
    "train_model",
    "unlink",
]
