"""Reusable widgets that know nothing of services: plots, log view, charts."""
