"""HTTP adapter (FastAPI). The only package that knows HTTP."""
