"""Dialogs: welcome (first start), settings, confirmations."""
