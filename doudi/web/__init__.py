"""The web application: server-rendered Chinese pages (Jinja2 + HTMX) and the REST API.

Routes are thin adapters over the services in :mod:`doudi.cases`, :mod:`doudi.registry`,
:mod:`doudi.monitor`, :mod:`doudi.feeds` and :mod:`doudi.programs`; every scope and
permission check happens in those services (and again, for the page's own reads, here).
"""
