"""The UI's pages. Each module has ``render()``; Streamlit runs the file as ``__main__``."""
