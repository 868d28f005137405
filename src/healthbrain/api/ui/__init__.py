"""The cockpit (驾驶舱): server-rendered pages (Jinja2 + htmx + ECharts) over the platform's own APIs."""

from healthbrain.api.ui.install import install_ui
from healthbrain.api.ui.settings import UiSettings

__all__ = ["UiSettings", "install_ui"]
