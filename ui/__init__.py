"""Streamlit-side helpers: engine and session access, login, navigation, display formatting."""
