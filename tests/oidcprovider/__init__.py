"""A real OpenID Connect provider for the inbox's single sign-on tests.

django-oauth-toolkit's provider, configured here (not written here): a Django site with
a password sign-in page, the authorisation code flow with PKCE, RS256 ID tokens and
discovery. `tests/servers.py` starts it on loopback with `django-admin runserver`.
"""
