"""HL7 v2 ingest: parse v2.3-v2.8 messages, map them to FHIR with declarative specs, serve MLLP."""

from healthbrain.ingest.hl7v2.engine import MappedMessage, map_message
from healthbrain.ingest.hl7v2.errors import Hl7Problem, Hl7Rejected, SpecError
from healthbrain.ingest.hl7v2.message import Location, Message, Segment
from healthbrain.ingest.hl7v2.mllp import MllpConfig, MllpServer, run_server, server_ssl_context
from healthbrain.ingest.hl7v2.parser import parse_message, split_batch
from healthbrain.ingest.hl7v2.pipeline import Hl7Ingestor, Outcome
from healthbrain.ingest.hl7v2.spec import Catalog, default_catalog, load_catalog

__all__ = [
    "Catalog",
    "Hl7Ingestor",
    "Hl7Problem",
    "Hl7Rejected",
    "Location",
    "MappedMessage",
    "Message",
    "MllpConfig",
    "MllpServer",
    "Outcome",
    "Segment",
    "SpecError",
    "default_catalog",
    "load_catalog",
    "map_message",
    "parse_message",
    "run_server",
    "server_ssl_context",
    "split_batch",
]
