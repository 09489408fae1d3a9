"""Command-line arguments of ``bench`` (kept light: no heavy imports)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=int, default=10, help="active models (10: 5 RF + 5 XGB)")
    parser.add_argument("--coins", type=int, default=1000, help="simulated coins (1000)")
    parser.add_argument("--duration", type=float, default=30.0, help="collector seconds (30)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="rows per second inserted; 0 = as fast as possible (0)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, help="service BATCH_SIZE for the run (500)"
    )
    parser.add_argument(
        "--insert-batch", type=int, default=200, help="collector rows per INSERT statement (200)"
    )
    parser.add_argument(
        "--naive-seconds", type=float, default=10.0, help="how long the naive path runs (10)"
    )
    parser.add_argument("--workers", type=int, default=2, help="PIPELINE_WORKERS for the run (2)")
