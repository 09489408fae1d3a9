"""The Streamlit entry script: page config, navigation, the sidebar.

Run it with ``ml-prediction-service ui`` (or ``streamlit run`` on this file). Importing the
module does nothing; Streamlit runs it as ``__main__``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ml_prediction_service import __version__
from ml_prediction_service.ui.client import ApiUnavailable
from ml_prediction_service.ui.common import api_config, client

VIEWS = Path(__file__).parent / "views"

# (file, title, material icon, url path)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("overview.py", "Overview", ":material/dashboard:", "overview"),
    ("models.py", "Models", ":material/model_training:", "models"),
    ("predictions.py", "Predictions", ":material/query_stats:", "predictions"),
    ("alerts.py", "Alerts", ":material/notifications_active:", "alerts"),
    ("quality.py", "Alert quality", ":material/verified:", "quality"),
    ("webhooks.py", "Webhooks", ":material/webhook:", "webhooks"),
)


def pages() -> list[st.Page]:
    return [
        st.Page(VIEWS / file, title=title, icon=icon, url_path=path, default=(i == 0))
        for i, (file, title, icon, path) in enumerate(PAGES)
    ]


def sidebar() -> None:
    url, key = api_config()
    with st.sidebar:
        st.markdown("### :material/monitoring: ML Prediction Service")
        try:
            with client() as api:
                health = api.health()
        except ApiUnavailable:
            st.markdown(":red[● API unreachable]")
        else:
            status = str(health.get("status", "?"))
            color = "green" if status == "healthy" else "orange"
            st.markdown(f":{color}[● {status}] · v{health.get('version', '?')}")
        st.caption(f"API: `{url}`" + (" · API key set" if key else ""))
        st.link_button("API docs", f"{url}/docs", icon=":material/open_in_new:")
        st.caption(f"UI {__version__}")


# Metric values in Streamlit's default size do not fit in narrow columns.
STYLE = """
<style>
[data-testid="stMetricValue"] { font-size: 1.55rem; }
[data-testid="stMetricLabel"] p { font-size: 0.85rem; }
</style>
"""


def main() -> None:
    st.set_page_config(
        page_title="ML Prediction Service",
        page_icon=":material/monitoring:",
        layout="wide",
    )
    st.markdown(STYLE, unsafe_allow_html=True)
    navigation = st.navigation(pages())
    sidebar()
    navigation.run()


if __name__ == "__main__":
    main()
