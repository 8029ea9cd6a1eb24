"""tamiz.flows: Prefect flows over the pure steps of `pipeline/`, and the `tamiz` CLI.

Importing this package sets Prefect's local-run defaults (before Prefect itself is imported),
unless the user already set them; see `flows/settings.py`.
"""

from tamiz.flows.settings import configure_prefect

configure_prefect()
