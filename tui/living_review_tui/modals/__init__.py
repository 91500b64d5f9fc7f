"""Modal screens shared by every stage: key help and error reports."""
