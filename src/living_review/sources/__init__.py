"""Provides the importers: one module per export format or service.

Every importer yields :class:`living_review.sources.base.ParsedRecord`; ``detect_format`` and
``parse_file`` choose the module, and ``living_review.importing.import_file`` stores the records.
"""
