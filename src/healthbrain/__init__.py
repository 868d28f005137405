"""HealthBrain (健康大脑): regional health data and AI platform on FHIR R4."""

__all__ = ["__version__"]
__version__ = "0.1.0"
