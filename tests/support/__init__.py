"""Test support: database server per run, template database per test."""
