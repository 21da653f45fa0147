"""Views of the elicitation app: ``organizer`` (staff pages) and ``expert`` (magic-link pages)."""
