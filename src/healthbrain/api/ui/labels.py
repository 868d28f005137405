"""Names of the platform's status codes as users read them (translated where shown)."""

from __future__ import annotations

from healthbrain.api.ui.text import N_

__all__ = ["JOB_TITLES", "LABELS"]

LABELS: dict[str, dict[str, str]] = {
    "alert_status": {
        "open": N_("Open"),
        "acknowledged": N_("Acknowledged"),
        "completed": N_("Completed"),
        "cancelled": N_("Cancelled"),
    },
    "priority": {"critical": N_("Critical"), "urgent": N_("Urgent"), "routine": N_("Routine")},
    "alert_kind": {
        "critical": N_("Critical value"),
        "delta": N_("Sudden change"),
        "ews": N_("Early warning score"),
        "audit": N_("Prescription issue"),
    },
    "signal_status": {
        "new": N_("New signal"),
        "assigned": N_("Pushed to the county officer"),
        "verifying": N_("Being verified"),
        "confirmed": N_("Outbreak confirmed"),
        "excluded": N_("Not an outbreak"),
        "responded": N_("Response started"),
    },
    "review_status": {
        "pending": N_("Waiting for the pharmacist"),
        "auto_approved": N_("Passed automatically"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "returned": N_("Returned to the prescriber"),
        "superseded": N_("Superseded"),
    },
    "job_status": {"running": N_("Running"), "done": N_("Finished"), "failed": N_("Failed")},
    "outcome": {"success": N_("Success"), "failure": N_("Failure")},
    "encounter_class": {
        "AMB": N_("Outpatient"),
        "IMP": N_("Inpatient"),
        "EMER": N_("Emergency"),
        "HH": N_("Home visit"),
        "VR": N_("Online consultation"),
    },
    "fact_status": {
        "finished": N_("Finished"),
        "in-progress": N_("In progress"),
        "planned": N_("Planned"),
        "active": N_("Active"),
        "resolved": N_("Resolved"),
        "inactive": N_("Inactive"),
        "remission": N_("Remission"),
        "recurrence": N_("Recurrence"),
        "completed": N_("Done"),
        "stopped": N_("Stopped"),
        "cancelled": N_("Cancelled"),
        "on-hold": N_("On hold"),
        "high": N_("High risk"),
        "low": N_("Low risk"),
        "H": N_("High"),
        "L": N_("Low"),
        "HH": N_("Critically high"),
        "LL": N_("Critically low"),
        "A": N_("Abnormal"),
    },
    "gender": {"male": N_("Male"), "female": N_("Female"), "other": N_("Other"), "unknown": N_("Unknown")},
}

JOB_TITLES: dict[str, str] = {
    "detect": N_("Detection over a period"),
    "relink": N_("Re-link of the patient index"),
    "verify-audit": N_("Audit chain verification"),
}
