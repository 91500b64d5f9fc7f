"""The Textual app for living-review: screens over the core service functions."""
