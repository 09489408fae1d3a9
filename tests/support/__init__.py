"""Test support, one module per job (test modules import from here, never from each other).

``pg`` one PostgreSQL server per run, a template database per test; ``settings`` the one way
to build the service's settings; ``wait`` the one wait helper (``eventually``); ``http``
real HTTP (``serve_app`` on the package's ``httpserve``, free ports, health polling);
``world`` the service + training-service stand-in fixtures (registered in tests/conftest.py);
``ui_world`` the UI tests' running system; ``processes`` the service as a subprocess;
``models`` tiny trained models and their ``ml_models`` rows; ``metrics`` / ``coin_metrics``
collector rows; ``expected`` predictions computed independently; ``feature_histories``,
``prefix_state``, ``tails``, ``model_input`` the feature tests' references; ``contract_rules``
the contract §1 rules; ``reference_models`` / ``pinned`` the pinned training side.
"""
