"""Typed settings and named limits; imports nothing of Glint."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
