"""OpsDesk domain, store and services. Imports neither streamlit nor httpx."""
