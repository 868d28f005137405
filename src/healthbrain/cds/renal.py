"""Estimated GFR from serum creatinine: CKD-EPI 2021 (race-free), adults only."""

from __future__ import annotations

__all__ = ["egfr_ckd_epi_2021"]

UMOL_PER_MG_DL = 88.42


def egfr_ckd_epi_2021(creatinine_umol_l: float, age_years: float, sex: str | None) -> float | None:
    """eGFR in mL/min/1.73 m² (Inker LA et al., N Engl J Med 2021;385:1737-1749), or None.

    None for children (the equation is validated from 18 years) and when sex is unknown.
    """
    if age_years < 18 or sex not in ("male", "female") or creatinine_umol_l <= 0:
        return None
    scr = creatinine_umol_l / UMOL_PER_MG_DL
    kappa, alpha = (0.7, -0.241) if sex == "female" else (0.9, -0.302)
    ratio = scr / kappa
    egfr: float = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return egfr * 1.012 if sex == "female" else egfr
