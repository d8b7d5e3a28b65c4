"""The New job tab: pages over core.wizard.Wizard."""
