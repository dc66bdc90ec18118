"""Optional integrations, each in its own module, never imported by ``etlify`` itself.

- :mod:`etlify.contrib.flask`: the ``Etlify`` Flask extension and ``flask etlify`` commands
  (``pip install etlify[flask]``).
- :mod:`etlify.contrib.huey`: run async syncs as Huey tasks (``pip install etlify[huey]``).
"""
