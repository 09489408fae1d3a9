"""The demo's HTTP servers: the package's in-loop uvicorn helper (``ml_prediction_service.
httpserve``), under the names the demo imports."""

from __future__ import annotations

from ml_prediction_service.httpserve import PortInUse, RunningServer, bind, port_of, start_server

__all__ = ["PortInUse", "RunningServer", "bind", "port_of", "start_server"]
