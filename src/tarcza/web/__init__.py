"""The web layer: the app factory, error mapping, i18n, layout and static files."""
