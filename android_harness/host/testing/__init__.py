"""Test support for the host driver: a fake ``adb`` program that emulates phones and the app."""
