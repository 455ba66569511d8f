"""The key widget session tokens are signed with: REVOS_WIDGET_SECRET, or one kept in REVOS_HOME."""

from __future__ import annotations

from infra.key_files import key_file
from pipeline.settings import Settings, check_widget_secret

FILE_NAME = "widget.secret"


def widget_secret(settings: Settings) -> bytes:
    """The configured secret (at least 32 bytes), or the random one in `home/widget.secret`, created on first use."""
    configured = check_widget_secret(settings.widget_secret)
    if configured:
        return configured.encode()
    return key_file(settings.home / FILE_NAME)
