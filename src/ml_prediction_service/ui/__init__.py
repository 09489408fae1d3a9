"""The web UI (Streamlit + Plotly). It talks only to the REST API, never to the database.

``ml-prediction-service ui`` runs :mod:`ml_prediction_service.ui.app` with Streamlit.
"""
