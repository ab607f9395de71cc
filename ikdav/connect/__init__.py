"""The connect app: the web pages that link Infomaniak accounts to ikdav and manage them.

:func:`ikdav.connect.app.build_connect_app` builds the WSGI application (mounted at ``/``);
:mod:`ikdav.connect.linking` holds what the pages and the ``ikdav connect``/``accounts``
commands share: checking a token, storing it, revoking it.
"""
